"""The pages' dictionaries (coordinator/web/i18n/*.js): every language has every key its pages
need, with the same placeholders as English, and every key the pages use exists.

The public pages (dashboard, phones, projector) are in five languages (``LANG.js``); the staff
consoles (keys ``co_``, ``op_``, ``staff_``, and ``ad_`` for the organiser's page) in English and
French, in their own files (``staff-LANG.js``), which only the consoles load
(coordinator/web/i18n.js): a public page must use none of their keys."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest

from tests.support.harness import ROOT

WEB = ROOT / "coordinator" / "web"
PUBLIC = ["en", "fr", "de", "fi", "ta"]
STAFF = ["en", "fr"]
STAFF_KEY = re.compile(r"^(co|op|staff|ad)_")
ENTRY = re.compile(r'^  ([a-z][a-z0-9_]*): ("(?:[^"\\]|\\.)*"),$')
PLACEHOLDER = re.compile(r"\{\w+\}")
# String literals in the pages that name a dictionary key (by its family's prefix).
KEY_LITERAL = re.compile(
    r"[\"`]((?:co|op|staff|ad|phone|screen|glance|moment|conn|state|drift|timeline|subscribe)_"
    r"[a-z0-9_]+)[\"`]"
)


@cache
def dictionary_file(name: str) -> dict[str, str]:
    """``i18n/NAME.js`` read line by line, strictly: a line that is neither an entry, a
    comment nor the object's braces fails the test (the browser would fail on it too)."""
    entries: dict[str, str] = {}
    lines = (WEB / "i18n" / f"{name}.js").read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("//") or line in ("export default {", "};"):
            continue
        match = ENTRY.match(line)
        assert match, f'i18n/{name}.js:{number}: not a `  key: "text",` line: {line!r}'
        key, text = match.groups()
        assert key not in entries, f"i18n/{name}.js:{number}: {key} twice"
        entries[key] = json.loads(text)
    return entries


@cache
def dictionary(lang: str) -> dict[str, str]:
    """Every text of ``lang``: the public file, and for a staff language the consoles' file
    (as i18n.js merges them for a console)."""
    if lang not in STAFF:
        return dictionary_file(lang)
    return {**dictionary_file(lang), **dictionary_file(f"staff-{lang}")}


@pytest.mark.parametrize("lang", PUBLIC)
def test_each_file_holds_only_its_own_kind_of_keys(lang: str) -> None:
    """The public files hold no console text (a phone would download it for nothing), the
    staff files nothing but."""
    assert not [k for k in dictionary_file(lang) if STAFF_KEY.match(k)], f"i18n/{lang}.js"
    if lang in STAFF:
        staff = dictionary_file(f"staff-{lang}")
        assert staff and all(STAFF_KEY.match(k) for k in staff), f"i18n/staff-{lang}.js"


def module_imports(name: str) -> set[str]:
    """The page modules ``name`` imports, itself included, transitively."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        text = (WEB / module).read_text(encoding="utf-8")
        todo += re.findall(r'from "/static/([a-z0-9-]+\.js)"', text)
    return seen


@pytest.mark.parametrize("page", ["index.html", "follow.html", "display.html"])
def test_a_public_page_uses_no_console_text(page: str) -> None:
    html = (WEB / page).read_text(encoding="utf-8")
    keys = re.findall(r'data-i18n(?:-label|-placeholder)?="([^"]+)"', html)
    for entry in re.findall(r'<script type="module" src="/static/([a-z0-9-]+\.js)"', html):
        for module in module_imports(entry):
            keys += KEY_LITERAL.findall((WEB / module).read_text(encoding="utf-8"))
    assert not [k for k in keys if STAFF_KEY.match(k)], page


def public_keys() -> set[str]:
    return {k for k in dictionary("en") if not STAFF_KEY.match(k)}


@pytest.mark.parametrize("lang", PUBLIC)
def test_every_language_has_every_key_of_its_pages(lang: str) -> None:
    have = set(dictionary(lang))
    wanted = set(dictionary("en")) if lang in STAFF else public_keys()
    assert not wanted - have, f"i18n/{lang}.js lacks {sorted(wanted - have)}"
    assert not have - wanted, f"i18n/{lang}.js has keys English has not: {sorted(have - wanted)}"
    for key in wanted:
        text = dictionary(lang)[key]
        assert text.strip(), f"i18n/{lang}.js: {key} is empty"
        english = set(PLACEHOLDER.findall(dictionary("en")[key]))
        assert set(PLACEHOLDER.findall(text)) == english, f"i18n/{lang}.js: {key} placeholders"


def test_every_key_the_pages_use_is_in_the_dictionaries() -> None:
    keys = set(dictionary("en"))
    missing = []
    for page in sorted(WEB.glob("*.html")):
        text = page.read_text(encoding="utf-8")
        for key in re.findall(r'data-i18n(?:-label|-placeholder)?="([^"]+)"', text):
            if key not in keys:
                missing.append(f"{page.name}: {key}")
    for module in sorted(WEB.glob("*.js")):
        for key in KEY_LITERAL.findall(module.read_text(encoding="utf-8")):
            if key not in keys and not key.endswith("_"):
                missing.append(f"{module.name}: {key}")
    assert not missing, missing


def test_a_missing_key_is_caught(tmp_path: Path) -> None:
    """The check above can fail: a German dictionary without one key does not pass."""
    german = dict(dictionary("de"))
    german.pop("starts_in")
    assert public_keys() - set(german) == {"starts_in"}

"""docs/security.md stays true: it names every limit with its default, every hardening test,
and only tests that exist; its known issues are exactly the tests marked xfail."""

from __future__ import annotations

import ast
import re
from dataclasses import fields

from coordinator.limits import DESCRIPTIONS, Limits
from tests.support.harness import ROOT

DOC = ROOT / "docs" / "security.md"


def _tests() -> dict[str, bool]:
    """Every test function in tests/, and whether it is marked xfail."""
    found: dict[str, bool] = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                found[node.name] = any("xfail" in ast.unparse(d) for d in node.decorator_list)
    return found


def test_every_limit_is_in_the_docs_with_its_default() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert set(DESCRIPTIONS) == {f.name for f in fields(Limits)}
    for field in fields(Limits):
        default = field.default
        shown = f"{default:g}" if isinstance(default, float) else str(default)
        row = re.search(rf"^\| `{field.name}` \| {re.escape(shown)} \|", text, re.M)
        assert row, f"docs/security.md: no row '| `{field.name}` | {shown} |'"


def test_every_test_named_in_the_docs_exists_and_every_hardening_test_is_named() -> None:
    text = DOC.read_text(encoding="utf-8")
    tests = _tests()
    files = {p.stem for p in (ROOT / "tests").rglob("test_*.py")}
    named = set(re.findall(r"\btest_[a-z0-9_]+\b", text)) - files
    named = {n for n in named if n != "test_hardening_"}  # as in tests/hostile/test_hardening_*.py
    assert named, "no tests named"
    missing = sorted(n for n in named if n not in tests)
    assert not missing, f"docs/security.md names tests that do not exist: {missing}"
    hardening = set()
    for path in (ROOT / "tests" / "hostile").glob("test_hardening_*.py"):
        if path.name != "test_hardening_docs.py":  # these tests are about the docs
            hardening |= set(re.findall(r"^def (test_[a-z0-9_]+)", path.read_text(), re.M))
    unnamed = sorted(hardening - named)
    assert not unnamed, f"hardening tests docs/security.md does not mention: {unnamed}"


def test_the_known_issues_are_exactly_the_xfail_tests() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Known issues", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"::(test_[a-z0-9_]+)`", section))
    hardening_xfails = set()
    for path in (ROOT / "tests" / "hostile").glob("test_hardening_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and any(
                "xfail" in ast.unparse(d) for d in node.decorator_list
            ):
                hardening_xfails.add(node.name)
    assert listed == hardening_xfails

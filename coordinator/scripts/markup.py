"""Cue text as the screens receive it, and the markup of each format read into it. Pure.

Cue text is a small markup that every page reads the same way (coordinator/web/cue-text.js):

- ``<i>``, ``<b>``, ``<u>`` and their closing tags (lowercase, no attributes) are formatting;
- a line break is a line break;
- ``&lt;``, ``&gt;`` and ``&amp;`` stand for ``<``, ``>`` and ``&``;
- everything else is literal text.

:func:`literal` writes any text so that it reads back as itself; only the few sequences that
would otherwise be read as formatting or as a reference are escaped, so a line without them
(nearly every line) is unchanged. WebVTT and SRT markup other than the three tags is stripped,
each construct reported as a warning with its line.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

SAFE_TAG_RE = re.compile(r"</?[ibu]>")
_REFERENCE_RE = re.compile(r"&(lt|gt|amp);")
_UNESCAPED = {"lt": "<", "gt": ">", "amp": "&"}

Warn = Callable[[int, str], None]
"""Report a stripped construct: ``warn(line, message)``."""


def literal(text: str) -> str:
    """Cue text that shows ``text`` exactly, whatever it holds."""
    text = re.sub(r"&(?=(?:lt|gt|amp);)", "&amp;", text)
    return re.sub(r"<(?=/?[ibu]>)", "&lt;", text)


def as_written(text: str) -> str:
    """Cue text from a format without markup of its own (CSV, TSV, YAML, xlsx): the three
    formatting tags are formatting, everything else shows as written."""
    parts = SAFE_TAG_RE.split(text)
    tags = SAFE_TAG_RE.findall(text)
    out = [literal(parts[0])]
    for tag, part in zip(tags, parts[1:], strict=True):
        out += [tag, literal(part)]
    return "".join(out)


def unescape(text: str) -> str:
    """What a screen shows of cue text, formatting tags kept (the pages' rule, in Python)."""
    parts = SAFE_TAG_RE.split(text)
    tags = SAFE_TAG_RE.findall(text)
    out = [unescape_run(parts[0])]
    for tag, part in zip(tags, parts[1:], strict=True):
        out += [tag, unescape_run(part)]
    return "".join(out)


def plain(text: str) -> str:
    """The characters a screen shows, formatting tags dropped."""
    return unescape_run(SAFE_TAG_RE.sub("", text))


def unescape_run(text: str) -> str:
    """Text outside the formatting tags, its three references read."""
    return _REFERENCE_RE.sub(lambda m: _UNESCAPED[m.group(1)], text)


# -- WebVTT cue text ---------------------------------------------------------------------------

_VTT_TAG_RE = re.compile(r"<([^>]*)(?:>|$)")
_VTT_KNOWN = {"c", "i", "b", "u", "ruby", "rt", "v", "lang"}
_VTT_WHAT = {
    "c": "class span",
    "ruby": "ruby",
    "rt": "ruby text",
    "v": "voice",
    "lang": "language span",
}


@dataclass(frozen=True)
class CueMarkup:
    text: str  # cue text for the screens
    speaker: str = ""  # the first <v Name> voice, for the operator


def from_webvtt(raw: str, first_line: int, warn: Warn) -> CueMarkup:
    """Cue text from WebVTT cue text, built as the WebVTT cue text parsing rules build their
    tree: ``<i> <b> <u>`` kept (without classes), character references decoded, voices,
    classes, language spans, ruby and timestamps stripped, ruby text dropped (it annotates the
    base text, it is not part of the line). An end tag that closes nothing is ignored, a tag
    left open closes at the end."""
    tree = _VttTree(warn)
    last = 0
    for match in _VTT_TAG_RE.finditer(raw):
        tree.text(raw[last : match.start()])
        last = match.end()
        tree.tag(match.group(1), first_line + raw.count("\n", 0, match.start()))
    tree.text(raw[last:])
    return CueMarkup(text=tree.finish(), speaker=tree.speaker)


class _VttTree:
    """The open elements of a cue's text, and the screens' text built so far."""

    def __init__(self, warn: Warn) -> None:
        self.warn = warn
        self.open: list[str] = []
        self.out: list[str] = []
        self.speaker = ""

    def text(self, chunk: str) -> None:
        if chunk and "rt" not in self.open:
            self.out.append(literal(html.unescape(chunk)))

    def tag(self, body: str, line: int) -> None:
        shown = _show(f"<{body}")
        if body[:1].isdigit():
            self.warn(line, f"stripped the timestamp tag {shown}")
        elif body.startswith("/"):
            self._end(body[1:].strip(" \t\n\f\r"))
        else:
            self._start(body, shown, line)

    def _start(self, body: str, shown: str, line: int) -> None:
        name = re.split(r"[.\t\n\f\r ]", body, maxsplit=1)[0]
        if name not in _VTT_KNOWN:
            self.warn(line, f"stripped the unknown tag {shown}")
            return
        if name == "rt" and self.open[-1:] != ["ruby"]:
            return  # ruby text outside ruby is no element: its text is shown
        self.open.append(name)
        if name in ("i", "b", "u"):
            if body != name:
                self.warn(line, f"stripped the class or annotation of {shown}")
            self.out.append(f"<{name}>")
            return
        if name == "v" and not self.speaker:
            annotation = re.split(r"[\t\n\f\r ]", body, maxsplit=1)[1:]
            self.speaker = annotation[0].strip(" \t\n\f\r") if annotation else ""
        self.warn(line, f"stripped the {_VTT_WHAT[name]} tag {shown}")

    def _end(self, name: str) -> None:
        if self.open[-1:] == [name]:
            self._pop()
        elif name == "ruby" and self.open[-2:] == ["ruby", "rt"]:
            self._pop()
            self._pop()

    def _pop(self) -> None:
        name = self.open.pop()
        if name in ("i", "b", "u"):
            self.out.append(f"</{name}>")

    def finish(self) -> str:
        while self.open:
            self._pop()
        return "".join(self.out)


def _show(tag: str) -> str:
    shown = tag if tag.endswith(">") else tag + ">"
    return shown if len(shown) <= 40 else shown[:37] + "...>"


# -- SRT text ----------------------------------------------------------------------------------

_SRT_MARKUP_RE = re.compile(r"</?(?P<name>[a-zA-Z][a-zA-Z0-9]*)(?:[ \t][^<>]*)?/?>|\{\\[^{}]*\}")


def from_srt(raw: str, first_line: int, warn: Warn) -> str:
    """Cue text from SubRip text: ``<i> <b> <u>`` kept (any case), other tags (``<font>``,
    ``<s>``...) and ``{\\...}`` override codes (``{\\an8}``, ``{\\i1}``) stripped; the rest,
    ``&`` included, shows as written (SubRip has no character references)."""
    out: list[str] = []
    last = 0
    for match in _SRT_MARKUP_RE.finditer(raw):
        out.append(literal(raw[last : match.start()]))
        last = match.end()
        line = first_line + raw.count("\n", 0, match.start())
        token = match.group(0)
        name = (match.group("name") or "").lower()
        if name in ("i", "b", "u") and re.fullmatch(r"</?[a-zA-Z]>", token):
            out.append(token.lower())
        elif name:
            if not token.startswith("</"):  # one warning per construct, at its opening tag
                warn(line, f"stripped the tag {_show(token)}")
        else:
            warn(line, f"stripped the override code {token}")
    out.append(literal(raw[last:]))
    return "".join(out)

"""Text that was damaged before it reached us: decoded twice (``Ã©`` for ``é``) or saved in a
code page that turned every letter it lacked into ``?``. Pure.

Both survive any later step unnoticed and reach the screens as a wrong character, so a cell or
cue showing either is refused, naming the fix."""

from __future__ import annotations

import re

# A UTF-8 lead byte read as Windows-1252 / Latin-1 (Ã, Â, â, ...), then continuation bytes
# read the same way (the C1 range, or the characters Windows-1252 puts at 0x80-0x9F).
_DOUBLE_DECODED_RE = re.compile(
    "[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6"
    "\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]+"
)
# "à" is C3 A0: decoded twice it is "Ã" and a no-break space, often turned into a space later.
# Outside a word in capitals (Portuguese "IRMÃ "), "Ã" before a space is that "à".
_A_GRAVE_RE = re.compile("(?<![A-Z\u00c0-\u00de])\u00c3[\u00a0 ]")
_QUESTION_RUN_RE = re.compile(r"\?{4,}")


def _as_bytes(text: str) -> bytes | None:
    out = bytearray()
    for char in text:
        if ord(char) < 256:
            out.append(ord(char))
        else:
            try:
                out += char.encode("cp1252")
            except UnicodeEncodeError:
                return None
    return bytes(out)


def damage(text: str) -> str | None:
    """Why ``text`` looks damaged, or None."""
    for match in _DOUBLE_DECODED_RE.finditer(text):
        raw = _as_bytes(match.group(0))
        try:
            meant = raw.decode("utf-8") if raw is not None else None
        except UnicodeDecodeError:
            continue
        if meant:
            return (
                f"{match.group(0)!r} is {meant!r} decoded twice (the file went through a "
                "program that read UTF-8 as Windows-1252); export it again as UTF-8"
            )
    grave = _A_GRAVE_RE.search(text)
    if grave:
        return (
            f"{grave.group(0)!r} is 'à' decoded twice (the file went through a program that "
            "read UTF-8 as Windows-1252); export it again as UTF-8"
        )
    marks = text.count("?")
    if _QUESTION_RUN_RE.search(text) or (marks >= 2 and not any(c.isalpha() for c in text)):
        return (
            "the letters were replaced by '?' (saved in a code page without them, e.g. "
            "'ANSI'); save the file again as UTF-8"
        )
    return None

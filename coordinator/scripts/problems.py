"""The FILE:LINE problem collector every script parser shares: a file's problems are gathered,
then reported together in line order, so a surtitler fixes them all in one pass."""

from __future__ import annotations

from typing import NoReturn

from coordinator.scripts.model import ScriptError


class Problems:
    """The problems found in one file, reported in line order (line 0: the whole file)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.found: list[tuple[int, str]] = []
        self.warned: list[tuple[int, str]] = []

    def warn(self, line: int, message: str) -> None:
        """Something the file holds that the screens will not show (stripped markup)."""
        self.warned.append((line, message))

    def where(self, line: int) -> str:
        return f"{self.source}{f':{line}' if line else ''}"

    def warnings(self) -> tuple[str, ...]:
        """The warnings as ``FILE:LINE: message``, in line order."""
        return self.warnings_since(0)

    def warnings_since(self, mark: int) -> tuple[str, ...]:
        """The warnings given after the first ``mark`` (those of one cue), in line order."""
        ordered = sorted(self.warned[mark:], key=lambda warning: warning[0])
        return tuple(f"{self.where(line)}: {text}" for line, text in ordered)

    def add(self, line: int, message: str) -> None:
        self.found.append((line, message))

    def __bool__(self) -> bool:
        return bool(self.found)

    def fail(self, line: int, message: str) -> NoReturn:
        """Add a problem that stops the reading, and raise with everything found so far."""
        self.add(line, message)
        self.raise_if_any()
        raise AssertionError("raise_if_any raises when there are problems")

    def raise_if_any(self) -> None:
        if self.found:
            ordered = sorted(self.found, key=lambda problem: problem[0])
            raise ScriptError([f"{self.where(line)}: {text}" for line, text in ordered])

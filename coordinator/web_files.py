"""Where the pages are: ``coordinator/web``, shipped inside the package."""

from __future__ import annotations

from pathlib import Path

WEB_DIR = Path(__file__).resolve().parent / "web"


def read_page(name: str) -> str:
    """The text of ``web/NAME.html``."""
    return (WEB_DIR / f"{name}.html").read_text(encoding="utf-8")

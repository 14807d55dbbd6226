"""Where the pages are: ``coordinator/web``, shipped inside the package."""

from __future__ import annotations

from coordinator.resources import web_dir

WEB_DIR = web_dir()


def read_page(name: str) -> str:
    """The text of ``web/NAME.html``."""
    return (WEB_DIR / f"{name}.html").read_text(encoding="utf-8")

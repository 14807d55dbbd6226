"""The files shipped inside the package: the pages, the example event and its demo script.

Found with :mod:`importlib.resources`, so an installed copy (a wheel, ``pipx``) finds them
wherever it was installed; the package must be installed as files, as every wheel installer
does (the pages are served from a directory).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

# The example event, as `coordinator init` writes it: paths relative to the target folder.
EXAMPLE_FILES = ("cities.yaml", "scripts/demo.csv")


def _packaged(*parts: str) -> Path:
    return Path(str(files("coordinator").joinpath(*parts)))


def web_dir() -> Path:
    """The directory of the pages (HTML, CSS, ES modules)."""
    return _packaged("web")


def example_config() -> Path:
    """The packaged example event's config; its demo script sits beside it, as it names it."""
    return _packaged("examples", "cities.yaml")


def example_file(name: str) -> bytes:
    """One file of :data:`EXAMPLE_FILES`, as bytes."""
    return _packaged("examples", *name.split("/")).read_bytes()

"""What pyproject.toml promises an installer: honest floors, the license, the package data."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

from coordinator.resources import EXAMPLE_FILES, example_config, example_file

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
MINIMUM = ROOT / "constraints" / "minimum.txt"


def declared_floors() -> dict[str, Version]:
    floors = {}
    for text in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(text)
        (spec,) = requirement.specifier  # one bound each: the floor
        assert spec.operator == ">=", text
        floors[requirement.name.lower()] = Version(spec.version)
    return floors


def test_every_dependency_has_a_floor_and_the_constraints_pin_exactly_it() -> None:
    pinned = {}
    for line in MINIMUM.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pinned[name.lower()] = Version(version)
    assert pinned == declared_floors()


def test_the_packaged_example_is_the_shipped_event() -> None:
    for name in EXAMPLE_FILES:
        assert example_file(name) == (ROOT / "config" / name).read_bytes(), name
    assert example_config().parent == ROOT / "coordinator" / "examples"


def test_the_license_is_an_spdx_string_and_its_file_ships() -> None:
    assert PYPROJECT["project"]["license"] == "MIT"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    assert "The reading coordinator contributors" in (ROOT / "LICENSE").read_text("utf-8")


def test_the_buildpack_requirements_install_this_project() -> None:
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert [line for line in lines if line.strip() and not line.startswith("#")] == ["."]
    assert "coordinator serve --host 0.0.0.0" in (ROOT / "Procfile").read_text("utf-8")

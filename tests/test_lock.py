"""Reproducible installs: the lock file pins every requirement of pyproject.toml with hashes, at versions above
the advisories the minimums name, and nox installs from it."""

from __future__ import annotations

import importlib.util
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "dev.txt"
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)")


def pins() -> dict[str, tuple[Version, int]]:
    """name -> (version, number of hashes) from the lock."""
    found: dict[str, tuple[Version, int]] = {}
    name: str | None = None
    for line in LOCK.read_text().splitlines():
        if match := _PIN.match(line):
            name = canonicalize_name(match.group(1))
            found[name] = (Version(match.group(2)), 0)
        elif name is not None and line.strip().startswith("--hash=sha256:"):
            version, hashes = found[name]
            found[name] = (version, hashes + 1)
    return found


def requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    return [r for r in map(Requirement, listed) if canonicalize_name(r.name) != "kiegen"]


def test_every_requirement_is_pinned_with_hashes_at_a_version_it_allows() -> None:
    locked = pins()
    for requirement in requirements():
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} is not in {LOCK.name}: run `nox -s lock`"
        version, hashes = locked[name]
        assert requirement.specifier.contains(version, prereleases=True), f"{name}=={version} breaks {requirement}"
        assert hashes >= 1
    assert all(hashes >= 1 for _, hashes in locked.values())


@pytest.mark.parametrize(
    ("package", "minimum"),
    [("h11", "0.16"), ("starlette", "1.3.1"), ("aiohttp", "3.14.1"), ("idna", "3.7"), ("requests", "2.32.4")],
)
def test_minimums_and_pins_are_above_known_advisories(package: str, minimum: str) -> None:
    declared = [r for r in requirements() if canonicalize_name(r.name) == package]
    assert declared and not any(r.specifier.contains(_below(minimum)) for r in declared)
    assert pins()[package][0] >= Version(minimum)


def _below(version: str) -> Version:
    """A version just under ``version`` (the vulnerable side of the line)."""
    parts = [int(p) for p in version.split(".")]
    parts[-1] -= 1
    if parts[-1] < 0:
        parts[-1] = 999
        parts[-2] -= 1
    return Version(".".join(map(str, parts)))


class _Session:
    def __init__(self) -> None:
        self.installs: list[tuple[str, ...]] = []

    def install(self, *args: str, **kwargs: Any) -> None:
        self.installs.append(args)


def test_nox_installs_the_locked_files_only() -> None:
    spec = importlib.util.spec_from_file_location("kiegen_noxfile", ROOT / "noxfile.py")
    assert spec is not None and spec.loader is not None
    noxfile = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("kiegen_noxfile", noxfile)
    spec.loader.exec_module(noxfile)
    session = _Session()
    noxfile._install(session)
    assert session.installs == [
        ("--require-hashes", "--no-deps", "-r", "requirements/dev.txt"),
        ("--no-deps", "-e", "."),
    ]

"""The docs name only what exists: every repository path they cite (in backticks or as a relative link) is a
file or directory of the tree, and every ``kiegen.`` name they cite imports (module, class or function)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from tests.ops.procs import ROOT

DOCS = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
_PATH = re.compile(
    r"`((?:src|tests|docs|deploy|benchmarks|examples|apps|requirements|\.ci)/[A-Za-z0-9_./*-]+)`"
    r"|\]\(((?!https?:|mailto:)[^)#\s]+)"
)
_NAME = re.compile(r"`(kiegen(?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def cited_paths(doc: Path) -> list[tuple[str, Path]]:
    found = []
    for match in _PATH.finditer(doc.read_text(encoding="utf-8")):
        if match.group(1):
            found.append((match.group(1), ROOT))
        else:
            found.append((match.group(2), doc.parent))
    return found


def resolves(name: str) -> bool:
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attribute in parts[i:]:
            if not hasattr(obj, attribute):
                return False
            obj = getattr(obj, attribute)
        return True
    return False


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_every_path_a_doc_cites_exists(doc: Path) -> None:
    missing = [
        path
        for path, base in cited_paths(doc)
        if not (any(base.glob(path)) if "*" in path else (base / path.rstrip("/")).exists())
    ]
    assert missing == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_every_kiegen_name_a_doc_cites_imports(doc: Path) -> None:
    names = {name for name in _NAME.findall(doc.read_text(encoding="utf-8")) if not name.endswith(".db")}
    assert [name for name in sorted(names) if not resolves(name)] == []


def test_a_wrong_citation_would_be_caught(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("see `src/kiegen/nothing_here.py` and [this](missing.md)", encoding="utf-8")
    assert [path for path, base in cited_paths(doc) if not (base / path).exists()] == [
        "src/kiegen/nothing_here.py",
        "missing.md",
    ]
    assert not resolves("kiegen.core.no_such_module")
    assert not resolves("kiegen.Client.no_such_method")
    assert resolves("kiegen.Client.from_env")


# Paths of other repositories that docstrings and comments cite as such (each names its repository beside it).
_FOREIGN = ("docs/kie-ai/raw/", "tests/mocked_bot.py")
_CODE_PATH = re.compile(
    r"(?<![\w/.-])((?:src|tests|docs|deploy|benchmarks|examples|apps|requirements)/[A-Za-z0-9_./-]*[A-Za-z0-9_/])"
)


def test_every_path_the_code_cites_exists() -> None:
    """Docstrings and comments name files of this repository that exist (or another repository's, by name)."""
    files = [
        path
        for top in ("src", "tests", "benchmarks", "examples", "apps")
        for path in (ROOT / top).rglob("*")
        if path.suffix in {".py", ".toml"}
    ]
    missing = []
    for path in files:
        for cited in _CODE_PATH.findall(path.read_text(encoding="utf-8")):
            if cited.startswith(_FOREIGN) or path.name == "test_docs.py":
                continue
            if not any((base / cited).exists() for base in (ROOT, ROOT / "src")):
                missing.append(f"{path.relative_to(ROOT)}: {cited}")
    assert len(files) > 100
    assert missing == []

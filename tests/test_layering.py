"""The dependency rule of ARCHITECTURE.md, checked on the source's import statements."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "healthtwin"

SCALES = {
    "physiology",
    "prognosis",
    "hospital",
    "population",
    "surveillance",
    "synthetic",
    "interop",
    "governance",
    "federation",
    "control",
    "assimilation",
}
# package -> healthtwin packages it may import (errors is importable by everyone).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "assimilation": {"core"},
    "physiology": {"core"},
    "prognosis": {"core"},
    "control": {"core", "assimilation"},
    "hospital": {"core"},
    "population": {"core", "assimilation"},
    "surveillance": {"core"},
    # Sites keep their own privacy budget and audit: federation may use governance.
    "federation": {"core", "prognosis", "governance"},
    # Synthetic data are simulated by the twins, written as FHIR, scored on prognosis tasks
    # and their privacy spend is recorded in the governance ledger.
    "synthetic": {"core", "assimilation", "physiology", "prognosis", "interop", "governance"},
    "interop": {"core"},
    "governance": {"core"},
    "store": {"core", "interop", "governance"},
    # A federated site keeps its own audit log in its own store.
    "coupling": {"core", "store", *SCALES},
    "scenarios": {"core", "coupling", "store", *SCALES},
    "education": {"core", "coupling", "store", "scenarios", *SCALES},
    # The web faces are thin: their logic is below scenarios/ (and education/); they
    # speak FHIR (interop), go through the governance layer and read the store, but call
    # no scale or coupling directly. The service mounts the dashboard pages.
    "api": {"core", "store", "scenarios", "education", "dashboard", "governance", "interop"},
    "dashboard": {"core", "store", "scenarios", "education", "governance", "interop"},
    # The CLI is thin too (parsing, messages, progress, files); `healthtwin serve` starts
    # the web service: the one face that may start another.
    "cli": {
        "core",
        "store",
        "scenarios",
        "education",
        "api",
        "dashboard",
        "governance",
        "interop",
    },
}
ROOT_MODULES = {"errors", "__init__"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "healthtwin" and len(parts) > 1:
                found.add(parts[1])
    return found


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if p.parent != SRC)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_follow_the_layers(path: Path) -> None:
    package = path.relative_to(SRC).parts[0]
    assert package in ALLOWED, f"new package {package!r}: add it to the layering table"
    allowed = ALLOWED[package] | {package, "errors"}
    bad = _imports(path) - allowed - ({"__init__"} if package in {"cli"} else set())
    assert not bad, (
        f"{path.relative_to(SRC)} imports {sorted(bad)}; {package} may use {sorted(allowed)}"
    )


def test_root_modules_import_nothing_of_ours() -> None:
    assert _imports(SRC / "errors.py") == set()


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "m.py"
    bad.write_text("from healthtwin.hospital import x\nimport healthtwin.core.state\n")
    assert _imports(bad) == {"hospital", "core"}

"""The layering of docs/architecture.md holds: a package imports only itself and the layers
below it (ingest < retrieval < generation < eval < app), and no stage reads the environment."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["ingest", "retrieval", "generation", "eval", "app"]


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(LAYERS)


@pytest.mark.parametrize("package", LAYERS)
def test_a_package_imports_only_its_own_layer_and_those_below(package):
    allowed = set(LAYERS[: LAYERS.index(package) + 1])
    for path in sorted((ROOT / package).rglob("*.py")):
        above = imported_packages(path) - allowed
        assert not above, f"{path.relative_to(ROOT)} imports {sorted(above)}"


@pytest.mark.parametrize("package", LAYERS[:-1])
def test_stages_take_settings_as_arguments_not_from_the_environment(package):
    for path in sorted((ROOT / package).rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        assert "os.environ" not in source and "getenv" not in source, path.relative_to(ROOT)

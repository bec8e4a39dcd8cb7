"""The layering of docs/architecture.md holds: no import cycle anywhere, the contracts of
pyproject.toml's [tool.importlinter] are kept (a package imports only itself and the layers
below it, ingest < retrieval < generation < eval < app, and the finer rules inside ingest,
generation and app), and no stage reads the environment.

Both import checks read grimp's graph, which counts every import: those inside functions
and under TYPE_CHECKING too, so a cycle cannot hide in a lazy import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["ingest", "retrieval", "generation", "eval", "app"]


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively).

    >>> g = grimp.ImportGraph()
    >>> for importer, imported in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]:
    ...     g.add_import(importer=importer, imported=imported)
    >>> import_cycles(g)
    [['a', 'b', 'c']]
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target,
                                 iter(sorted(graph.find_modules_directly_imported_by(target)))))
                    break
                if target in on_stack:
                    low[module] = min(low[module], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[module])
                if low[module] == index[module]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == module:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
    return sorted(cycles)


def test_no_module_is_part_of_an_import_cycle():
    graph = grimp.build_graph(*LAYERS, cache_dir=None)
    cycles = import_cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_import_contracts_in_pyproject_are_kept():
    # In a process of its own: import-linter prints through a console made when it is first
    # imported, bound to whatever sys.stdout was then; in one pytest process after a test whose
    # captured stream has closed, it failed with "I/O operation on closed file" (order-dependent).
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--no-cache"],  # reads pyproject.toml in ROOT
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("package", LAYERS[:-1])
def test_stages_take_settings_as_arguments_not_from_the_environment(package):
    for path in sorted((ROOT / package).rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        assert "os.environ" not in source and "getenv" not in source, path.relative_to(ROOT)

"""The house's arrows, read from the source: every ``import`` of graphops, tickets, audit and
recovery_portal (at module level or inside a function — a hidden import is still an arrow),
parsed with ``ast``. No module reaches itself again through its imports, graphops never imports
tickets, audit imports neither, and graphops hides no import inside a function (tickets neither:
tests/tickets/test_imports.py)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("graphops", "tickets", "audit", "recovery_portal")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # data, not code anyone imports
            found[_module_name(path)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, *, local: bool = False) -> Iterator[tuple[ast.stmt, bool]]:
    """Import statements with whether each sits inside a function (type-only ones skipped)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, local
        else:
            inside = local or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            yield from _imports(node, local=inside)


def _targets(node: ast.stmt, *, importer: str, modules: dict[str, Path]) -> Iterator[str]:
    """The modules of ours an import statement loads (the most specific one named)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        assert isinstance(node, ast.ImportFrom)
        base = node.module or ""
        if node.level:
            package = importer.split(".")
            if modules[importer].name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        names = [f"{base}.{alias.name}" for alias in node.names]
        names = [n if n in modules else base for n in names]
    for name in names:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name:
            yield from _loaded(name, importer=importer)
            yield name


def _loaded(name: str, *, importer: str) -> Iterator[str]:
    """The packages Python runs before ``name`` itself (``a``, then ``a.b`` for ``a.b.c``),
    except those the importer sits in: a package loading its own submodules is no circle."""
    parts = name.split(".")
    own = importer.split(".")
    for depth in range(1, len(parts)):
        if parts[:depth] != own[:depth]:
            yield ".".join(parts[:depth])


def _graph() -> tuple[dict[str, set[str]], dict[str, list[str]]]:
    modules = _sources()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    hidden: dict[str, list[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node, local in _imports(tree):
            targets = set(_targets(node, importer=name, modules=modules)) - {name}
            graph[name] |= targets
            if local and targets:
                hidden.setdefault(name, []).append(f"line {node.lineno}: {sorted(targets)}")
    return graph, hidden


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return _graph()[0]


def test_import_graph_sees_the_known_arrows(graph: dict[str, set[str]]) -> None:
    # given / when the graph read from the source / then it holds arrows known to exist (a
    # parser that found nothing would pass every other test here)
    assert "graphops.operations" in graph["tickets.workflow.execution"]
    assert "graphops.models" in graph["graphops.ledger"]
    assert "audit.log" in graph["graphops.ledger"]


def test_import_graph_has_no_cycle(graph: dict[str, set[str]]) -> None:
    # given every import of ours, function-local ones included / then no module comes back
    assert _cycles(graph) == []


def test_graphops_has_no_cycle(graph: dict[str, set[str]]) -> None:
    assert [cycle for cycle in _cycles(graph) if any(m.startswith("graphops") for m in cycle)] == []


def test_tickets_imports_only_the_public_face_of_graphops(graph: dict[str, set[str]]) -> None:
    public = {"graphops", "graphops.operations", "graphops.models", "graphops.signals"}
    reached = {
        target
        for module, targets in graph.items()
        if module.startswith("tickets")
        for target in targets
        if target.startswith("graphops")
    }
    assert reached <= public


def test_graphops_never_imports_tickets(graph: dict[str, set[str]]) -> None:
    wrong = {m: sorted(t for t in ts if t.startswith("tickets")) for m, ts in graph.items()}
    assert {m: ts for m, ts in wrong.items() if m.startswith("graphops") and ts} == {}


def test_audit_imports_neither_tickets_nor_graphops(graph: dict[str, set[str]]) -> None:
    wrong = {
        m: sorted(t for t in ts if t.startswith(("tickets", "graphops")))
        for m, ts in graph.items()
        if m.startswith("audit")
    }
    assert {m: ts for m, ts in wrong.items() if ts} == {}


def test_graphops_hides_no_import_inside_a_function() -> None:
    _, hidden = _graph()
    assert {m: lines for m, lines in hidden.items() if m.startswith("graphops")} == {}

"""The tickets app's seams, read from the source: no module takes another's private (``_name``)
function, and no import hides inside a function (AppConfig.ready() aside). Circles and arrows
between packages: tests/test_import_graph.py."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "tickets"


def _modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = ast.parse(path.read_text(), filename=str(path))
    return found


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports run when the module loads (``if TYPE_CHECKING:`` blocks excluded)."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If) and not _is_type_checking(node):
            found += [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
    return found


def test_tickets_modules_import_no_private_name_of_another() -> None:
    offenders = [
        f"{name}: {node.module}.{alias.name}"
        for name, tree in MODULES.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tickets")
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert offenders == []


def test_tickets_modules_read_no_private_attribute_of_another() -> None:
    offenders = []
    for name, tree in MODULES.items():
        imported = {
            alias.asname or alias.name
            for node in _top_level_imports(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tickets")
            for alias in node.names
            if f"{node.module}.{alias.name}" in MODULES
        }
        offenders += [
            f"{name}: {node.value.id}.{node.attr}"  # type: ignore[attr-defined]
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in imported
            and node.attr.startswith("_")
        ]
    assert offenders == []


def test_tickets_modules_import_only_at_module_level() -> None:
    # An import inside a function hides a circle; AppConfig.ready() is the one place Django
    # wants them (the app registry is not ready before it).
    offenders = []
    for name, tree in MODULES.items():
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if name == "tickets.apps" and func.name == "ready":
                continue
            offenders += [
                f"{name}.{func.name}: line {node.lineno}"
                for node in ast.walk(func)
                if isinstance(node, ast.Import | ast.ImportFrom)
            ]
    assert offenders == []

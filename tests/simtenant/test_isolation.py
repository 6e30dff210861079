"""The simulated tenant stands apart: no production module imports it, and it imports nothing of
the portal (it stands in for Microsoft). They meet only over HTTP and through configuration.

Read two ways: statically (every module's syntax tree, function-local imports, ``import_module``
and ``__import__`` strings, and dotted paths such as Django settings name apps and backends
with) and at run time (every module imported in a fresh interpreter, then ``sys.modules``).
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("recovery_portal", "tickets", "graphops", "audit")
SIMULATOR = "simtenant"
# What the simulator may not lean on: the portal, and Django, which the portal is built on.
PORTAL = (*PRODUCTION, "django")
DOTTED_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(name: str, *, level: int, package: str) -> str:
    if not level:
        return name
    base = package.split(".")[: len(package.split(".")) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _import_call(node: ast.Call) -> str | None:
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if called not in ("import_module", "__import__") or not node.args:
        return None
    first = node.args[0]
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


def referenced_modules(source: str, *, module: str, is_package: bool = False) -> set[str]:
    """Every module a source names: imports at any depth, import calls, dotted-path strings."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module or "", level=node.level, package=package)
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Call) and (name := _import_call(node)) is not None:
            level = len(name) - len(name.lstrip("."))
            found.add(_absolute(name.lstrip("."), level=level, package=package))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found |= {node.value} if DOTTED_PATH.match(node.value) else set()
    return found


def offending(packages: tuple[str, ...], *, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    """Per module of ``packages``: the modules it names under a ``forbidden`` top-level name."""
    problems: dict[str, list[str]] = {}
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            names = referenced_modules(
                path.read_text(),
                module=module_name(path),
                is_package=path.name == "__init__.py",
            )
            bad = sorted(n for n in names if n.split(".")[0] in forbidden)
            if bad:
                problems[module_name(path)] = bad
    return problems


def modules_loaded_after_importing(packages: tuple[str, ...], *, setup_django: bool) -> set[str]:
    """Top-level names in ``sys.modules`` once a fresh interpreter imported every module."""
    script = textwrap.dedent(
        f"""
        import importlib, json, pkgutil, sys
        if {setup_django!r}:
            import django
            django.setup()
        for package in {packages!r}:
            importlib.import_module(package)
            for info in pkgutil.walk_packages(sys.modules[package].__path__, package + "."):
                importlib.import_module(info.name)
        print(json.dumps(sorted({{name.split(".")[0] for name in sys.modules}})))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "recovery_portal.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_referenced_modules_sees_hidden_and_indirect_imports():
    # given a module hiding its imports in every way the scan must see through
    source = textwrap.dedent(
        """
        import importlib

        APPS = ["simtenant.apps.SimConfig"]

        def later():
            from simtenant import seed
            import simtenant.graph as graph
            importlib.import_module("simtenant.control")
            __import__("simtenant")
            from . import sibling
        """
    )
    # when
    names = referenced_modules(source, module="tickets.views.public")
    # then
    assert {
        "simtenant",
        "simtenant.seed",
        "simtenant.graph",
        "simtenant.control",
        "simtenant.apps.SimConfig",
        "tickets.views.sibling",
    } <= names


def test_referenced_modules_ignores_names_that_are_only_configuration():
    # given settings naming the simulator's folder and its address variable
    source = textwrap.dedent(
        """
        from pathlib import Path

        SIMTENANT_URL = env("SIMTENANT_URL", "http://127.0.0.1:8765")
        SIMTENANT_CA_FILE = str(Path(".local") / "simtenant" / "cert.pem")
        """
    )
    # when
    names = referenced_modules(source, module="recovery_portal.settings")
    # then
    assert [n for n in names if n.split(".")[0] == SIMULATOR] == []
    assert "pathlib.Path" in names


def test_no_production_module_names_the_simulated_tenant():
    # when
    problems = offending(PRODUCTION, forbidden=(SIMULATOR,))
    # then
    assert problems == {}, "production code must reach the simulated tenant over HTTP only"


def test_the_simulated_tenant_names_nothing_of_the_portal():
    # when
    problems = offending((SIMULATOR,), forbidden=PORTAL)
    # then
    assert problems == {}, "the simulated tenant stands in for Microsoft: it owns its constants"


def test_the_portal_runs_without_loading_the_simulated_tenant():
    # when every production module is imported, as the web process and the worker would
    loaded = modules_loaded_after_importing(PRODUCTION, setup_django=True)
    # then
    assert {"tickets", "graphops", "audit", "recovery_portal", "django"} <= loaded
    assert SIMULATOR not in loaded
    assert not [app for app in settings.INSTALLED_APPS if app.split(".")[0] == SIMULATOR]


def test_the_simulated_tenant_runs_without_loading_the_portal():
    # when every module of the simulator is imported, as `python -m simtenant` would
    loaded = modules_loaded_after_importing((SIMULATOR,), setup_django=False)
    # then
    assert SIMULATOR in loaded
    assert loaded & set(PORTAL) == set()

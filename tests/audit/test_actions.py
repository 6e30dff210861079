"""The action vocabulary: every member is recorded somewhere, everything recorded is a member,
every Graph operation kind has its member, and every member reads well in every UI language."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.utils import translation

from audit import actions
from audit.actions import Action
from graphops.models import Kind

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("tickets", "graphops", "audit", "recovery_portal")


def _modules() -> list[tuple[Path, ast.Module]]:
    return [
        (path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        for folder in PRODUCTION
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "migrations" not in path.parts
    ]


def _is_record_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "record"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "log"
    )


def _members_in(node: ast.AST | None) -> set[str] | None:
    """The members an expression can evaluate to: ``Action.X``, or either branch of
    ``Action.X if c else Action.Y``; None for anything else."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return {node.attr} if node.value.id == "Action" else None
    if isinstance(node, ast.IfExp):
        body, orelse = _members_in(node.body), _members_in(node.orelse)
        return None if body is None or orelse is None else body | orelse
    return None


def _action_parameter(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str] | None:
    """For a function taking ``action: Action``, the member its default names (callers'
    ``action=`` arguments are collected separately); None when it takes no such parameter."""
    args = function.args
    defaults = dict(zip(args.kwonlyargs, args.kw_defaults, strict=True))
    positional = args.args[len(args.args) - len(args.defaults) :]
    defaults |= dict(zip(positional, args.defaults, strict=True))
    for arg in args.kwonlyargs + args.args:
        annotation = ast.unparse(arg.annotation) if arg.annotation is not None else ""
        if arg.arg == "action" and annotation == "Action":
            return _members_in(defaults.get(arg)) or set()
    return None


def _first_argument(call: ast.Call, function: ast.AST | None) -> set[str] | None:
    first = call.args[0] if call.args else None
    if isinstance(first, ast.Call) and ast.unparse(first.func) == "actions.graph_action":
        return {member.name for member in actions.GRAPH_OUTCOMES}
    if isinstance(first, ast.Name) and first.id == "action":
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            return _action_parameter(function)
        return None
    return _members_in(first)


def _emitted() -> tuple[set[str], list[str]]:
    """Members the production code records, and every ``log.record`` whose first argument the
    scan cannot resolve to members (should be none)."""
    emitted: set[str] = set()
    unresolved: list[str] = []
    for path, tree in _modules():
        functions = [
            (f, inner)
            for f in ast.walk(tree)
            if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
            for inner in ast.walk(f)
        ]
        enclosing = {id(inner): f for f, inner in functions}  # innermost wins (walked last)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg == "action":
                    emitted |= _members_in(keyword.value) or set()
            if _is_record_call(node):
                members = _first_argument(node, enclosing.get(id(node)))
                if members is None:
                    unresolved.append(f"{path.relative_to(ROOT)}:{node.lineno}")
                else:
                    emitted |= members
    return emitted, unresolved


def test_every_recorded_action_is_a_member() -> None:
    # given / when the production code is scanned for log.record calls
    emitted, unresolved = _emitted()
    # then each names its action as a member (the runtime check refuses anything else)
    assert emitted, "the scan found no log.record call: it is stale"
    assert unresolved == []
    assert emitted <= set(Action.names)


def test_every_member_is_recorded_somewhere() -> None:
    # given / when
    emitted, _ = _emitted()
    # then no member is vocabulary only
    assert sorted(set(Action.names) - emitted) == []


def test_every_graph_operation_kind_has_its_member_and_no_more() -> None:
    # given audit, which may not import graphops, writes the graph.<kind> members out
    kinds = {f"{actions.GRAPH_PREFIX}{kind.value}" for kind in Kind}
    # then the two lists are the same, and each kind's outcome is recorded as its member
    assert {member.value for member in actions.GRAPH_OUTCOMES} == kinds
    for kind in Kind:
        assert actions.graph_action(kind) is Action(f"graph.{kind.value}")


def test_graph_action_refuses_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="graph.teleport"):
        actions.graph_action("teleport")


def test_label_names_a_stored_action_and_leaves_unknown_text_alone() -> None:
    # given the text as stored in an event row
    # then its member's label, or the text itself for one the vocabulary does not know
    assert actions.label("graph.directory_lookup") == "Graph: directory lookup"
    assert actions.label("ticket.approved") == "Approved"
    assert actions.label("legacy.thing") == "legacy.thing"


@pytest.mark.parametrize("language", ["it", "fr"])
def test_every_label_is_translated(language: str) -> None:
    # given the English labels
    english = {member: str(member.label) for member in Action}
    # when read in another UI language
    with translation.override(language):
        translated = {member: str(member.label) for member in Action}
    # then none is left in English
    assert sorted(m.value for m in Action if translated[m] == english[m]) == []

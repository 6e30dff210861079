"""Every action the other modules record has a readable (translatable) name in the timeline."""

from __future__ import annotations

import re
from pathlib import Path

from audit import actions

ROOT = Path(__file__).resolve().parents[2]
ACTION = re.compile(r"\"((?:ticket|triage|link|directory|staff)\.[a-z_]+)\"")


def test_every_recorded_ticket_action_has_a_label() -> None:
    used = {
        match
        for folder in ("tickets", "graphops")
        for path in (ROOT / folder).rglob("*.py")
        if "migrations" not in path.parts
        for match in ACTION.findall(path.read_text(encoding="utf-8"))
    }
    assert used, "the scan found no action names: the pattern is stale"
    assert sorted(used - set(actions.LABELS)) == []


def test_graph_actions_are_named_by_their_kind() -> None:
    assert actions.label("graph.directory_lookup") == "Graph: directory lookup"
    assert actions.label("graph.issue_tap") == str(actions.LABELS[actions.GRAPH_ISSUE_TAP])

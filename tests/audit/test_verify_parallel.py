"""The forked walk (committed data, several processes, one shared snapshot) finds the same
first broken link as the single walk."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit import log
from audit.actions import Action
from audit.verify import verify_chain

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def committed_events() -> list:  # type: ignore[type-arg]
    return [
        log.record(Action.LINK_USED, ticket_ref=f"RP-{n:04d}", subject=f"u{n}@x") for n in range(40)
    ]


def _edit_behind_the_trigger(sql: str, params: list[object]) -> None:
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")


def test_forked_walk_matches_the_single_walk_on_an_intact_chain(committed_events) -> None:  # type: ignore[no-untyped-def]
    single, forked = verify_chain(workers=1), verify_chain(workers=3)
    assert single.ok and forked.ok
    assert (
        (forked.checked, forked.head_id, forked.head_hash)
        == (
            single.checked,
            single.head_id,
            single.head_hash,
        )
        == (40, committed_events[-1].pk, committed_events[-1].hash)
    )


@pytest.mark.parametrize("victim", [0, 9, 10, 11, 39])
def test_forked_walk_reports_the_same_first_broken_event(committed_events, victim) -> None:  # type: ignore[no-untyped-def]
    # given one event edited (at, before and after the boundaries of the workers' shares)
    target = committed_events[victim].pk
    _edit_behind_the_trigger(
        "UPDATE audit_auditevent SET actor_label = 'x' WHERE id = %s", [target]
    )
    # when
    single, forked = verify_chain(workers=1), verify_chain(workers=2)
    # then
    assert single.broken is not None and forked.broken == single.broken
    assert forked.broken.event_id == target and forked.checked == victim


def test_forked_walk_notices_a_removed_event_at_a_share_boundary(committed_events) -> None:  # type: ignore[no-untyped-def]
    _edit_behind_the_trigger("DELETE FROM audit_auditevent WHERE id = %s", [committed_events[5].pk])
    forked = verify_chain(workers=4)
    assert forked.broken is not None and forked.broken.event_id == committed_events[6].pk
    assert "prev_hash" in forked.broken.problem


def test_audit_verify_command_uses_workers(committed_events) -> None:  # type: ignore[no-untyped-def]
    out = StringIO()
    call_command("audit_verify", "--workers", "2", stdout=out)
    assert "audit chain OK: 40 events" in out.getvalue()
    _edit_behind_the_trigger(
        "UPDATE audit_auditevent SET outcome = 'failure' WHERE id = %s", [committed_events[20].pk]
    )
    with pytest.raises(CommandError, match=rf"BROKEN at event #{committed_events[20].pk}"):
        call_command("audit_verify", "--workers", "2", stdout=StringIO())


def test_audit_verify_command_by_default_names_the_same_first_broken_event(
    committed_events,
) -> None:  # type: ignore[no-untyped-def]
    # given one committed event edited behind the trigger
    target = committed_events[13].pk
    _edit_behind_the_trigger(
        "UPDATE audit_auditevent SET actor_label = 'x' WHERE id = %s", [target]
    )
    single = verify_chain(workers=1)
    # when the command runs as an operator runs it (its default workers)
    with pytest.raises(CommandError) as broken:
        call_command("audit_verify", stdout=StringIO())
    # then it names the single walk's first broken event
    assert single.broken is not None and single.broken.event_id == target
    assert f"BROKEN at event #{target}: {single.broken.problem}" in str(broken.value)
    assert f"{single.checked} events before it are intact" in str(broken.value)

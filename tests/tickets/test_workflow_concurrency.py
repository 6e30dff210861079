"""Concurrent approvals on real PostgreSQL: however the clicks race, one execution only."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from graphops.models import GraphOperation, Kind
from tests.tickets import casework
from tests.tickets.casework import make_manager, make_ticket, staff, verify
from tickets import workflow
from tickets.models import Approval, RecoveryStep, Status

pytestmark = pytest.mark.django_db(transaction=True)


def race(*actions: Callable[[], Any]) -> list[Any]:
    """Run the actions at the same instant, each in its own thread and database connection.

    Returns what each returned or raised."""
    barrier = threading.Barrier(len(actions))
    outcomes: list[Any] = [None] * len(actions)

    def run(i: int, action: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            outcomes[i] = action()
        except Exception as exc:  # the outcome under test, whatever it is
            outcomes[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


def _ready_for_approval(*, privileged: bool = False, confirm: bool = True):  # type: ignore[no-untyped-def]
    agent = staff("agent", ["helpdesk_agent"])
    ticket = make_ticket(is_privileged=privileged)
    verify(ticket, agent)
    if confirm:
        workflow.decide_as_manager(
            casework.last_link_token(), by=make_manager(), confirm=True, reason="Genuine."
        )
    return ticket


def _executions(ticket) -> int:  # type: ignore[no-untyped-def]
    return GraphOperation.objects.filter(
        correlation=ticket.reference, kind=Kind.REVOKE_SESSIONS
    ).count()


def test_approve_double_click_executes_once() -> None:
    # given
    ticket = _ready_for_approval()
    approver = staff("approver", ["approver"])
    # when the same approver's two requests arrive together
    outcomes = race(
        lambda: workflow.approve(ticket, by=approver), lambda: workflow.approve(ticket, by=approver)
    )
    # then
    assert sum(isinstance(o, Approval) for o in outcomes) == 1
    assert sum(isinstance(o, workflow.TransitionRefused) for o in outcomes) == 1
    ticket.refresh_from_db()
    assert ticket.status == Status.EXECUTING
    assert Approval.objects.count() == 1
    assert _executions(ticket) == 1
    assert RecoveryStep.objects.filter(ticket=ticket).count() == 3


def test_approve_by_two_approvers_at_once_executes_once() -> None:
    ticket = _ready_for_approval()
    first, second = staff("approver", ["approver"]), staff("approver2", ["approver"])
    outcomes = race(
        lambda: workflow.approve(ticket, by=first), lambda: workflow.approve(ticket, by=second)
    )
    assert sum(isinstance(o, Approval) for o in outcomes) == 1
    assert _executions(ticket) == 1


def test_privileged_approvals_at_once_release_once() -> None:
    # given a privileged case without cooling-off: approver and security officer click together
    from django.test import override_settings

    with override_settings(RECOVERY_POLICY={"privileged_cooling_off_minutes": 0}):
        ticket = _ready_for_approval(privileged=True)
        approver, officer = staff("approver", ["approver"]), staff("sec", ["security_officer"])
        outcomes = race(
            lambda: workflow.approve(ticket, by=approver),
            lambda: workflow.approve(ticket, by=officer),
        )
    # then both approvals stand and the execution started exactly once
    assert all(isinstance(o, Approval) for o in outcomes), outcomes
    assert {o.role for o in outcomes} == {"approver", "security"}
    ticket.refresh_from_db()
    assert ticket.status == Status.EXECUTING
    assert _executions(ticket) == 1


def test_manager_confirmation_racing_the_approval_executes_once() -> None:
    # given an approval and the manager's confirmation arriving together, in either order
    ticket = _ready_for_approval(confirm=False)
    token = casework.last_link_token()
    manager, approver = make_manager(), staff("approver", ["approver"])
    outcomes = race(
        lambda: workflow.decide_as_manager(token, by=manager, confirm=True, reason="Yes"),
        lambda: workflow.approve(ticket, by=approver),
    )
    # then
    assert not any(isinstance(o, Exception) for o in outcomes), outcomes
    ticket.refresh_from_db()
    assert ticket.status == Status.EXECUTING
    assert _executions(ticket) == 1


def test_cooled_off_release_racing_itself_starts_once() -> None:
    # given a privileged case approved, waiting for its cooling-off
    ticket = _ready_for_approval(privileged=True)
    workflow.approve(ticket, by=staff("approver", ["approver"]))
    workflow.approve(ticket, by=staff("sec", ["security_officer"]))
    verification = workflow.active_verification(ticket)
    # when two beat ticks run at once after the delay
    later = verification.execute_after
    outcomes = race(
        lambda: workflow.release_cooled_off(now=later),
        lambda: workflow.release_cooled_off(now=later),
    )
    # then
    assert sorted(outcomes) == [0, 1]
    assert _executions(ticket) == 1

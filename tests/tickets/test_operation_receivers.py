"""The receivers of graphops' ``operation_finished`` (tickets/apps.py wires them): the same
outcome delivered three times — the ledger's own announcement, then twice again as a
re-announcement would — changes the case once: no second step queued, no second notice owed or
mail sent, no duplicate audit event."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from audit.models import AuditEvent
from graphops import ledger
from graphops.models import GraphOperation, Kind, OpStatus
from graphops.signals import operation_finished
from tests.tickets import casework
from tests.tickets.casework import make_manager, make_ticket, verify
from tickets import workflow
from tickets.models import (
    DirectoryState,
    MailKind,
    NotMeLink,
    OutboundMail,
    RecoveryStep,
    Status,
    TapDelivery,
    Ticket,
    Verification,
)

pytestmark = pytest.mark.django_db


def _finish(operation: GraphOperation, **outcome: Any) -> GraphOperation:
    """What the worker does: claim, record the outcome, announce it after the commit."""
    claimed = ledger.claim(str(operation.pk))
    assert claimed is not None
    with casework.committed():
        if "error_code" in outcome:
            ledger.fail(claimed, code=outcome["error_code"], message="simulated", retryable=True)
        else:
            ledger.succeed(claimed, success=ledger.Success(result=outcome.get("result", {})))
    claimed.refresh_from_db()
    assert claimed.announced_at is not None
    return claimed


def _deliver_again(operation: GraphOperation, *, times: int = 2) -> None:
    for _ in range(times):
        operation.refresh_from_db()
        with casework.committed():
            operation_finished.send(sender=GraphOperation, operation=operation)


def _effects(ticket: Ticket) -> dict[str, Any]:
    """Everything a delivery could do to the case, counted."""
    ticket.refresh_from_db()
    return {
        "status": ticket.status,
        "directory_state": ticket.directory_state,
        "operations": GraphOperation.objects.filter(correlation=ticket.reference).count(),
        "audit": sorted(
            AuditEvent.objects.filter(ticket_ref=ticket.reference).values_list("action", flat=True)
        ),
        "notices": OutboundMail.objects.filter(
            ticket=ticket, kind=MailKind.RECOVERY_REQUESTED
        ).count(),
        "mails owed": OutboundMail.objects.filter(ticket=ticket).count(),
        "not_me_links": NotMeLink.objects.filter(ticket=ticket).count(),
        "mails": len(mail.outbox),
        "deliveries": TapDelivery.objects.filter(ticket=ticket).count(),
    }


def _lookup(ticket: Ticket) -> GraphOperation:
    return GraphOperation.objects.create(
        kind=Kind.DIRECTORY_LOOKUP, target_upn=ticket.upn, correlation=ticket.reference
    )


def test_directory_lookup_found_three_times_owes_each_notice_once() -> None:
    # given a filed request whose directory lookup found the account
    ticket = make_ticket(directory_state=DirectoryState.PENDING, directory_facts={})
    operation = _finish(_lookup(ticket), result=casework.FACTS)
    once = _effects(ticket)
    assert once["directory_state"] == DirectoryState.FOUND
    assert once["notices"] == 2 and once["not_me_links"] == 2 and once["mails"] == 2
    assert once["audit"].count("ticket.directory_checked") == 1
    # when the same outcome is delivered twice more
    _deliver_again(operation)
    # then nothing happened a second time
    assert _effects(ticket) == once


def test_directory_lookup_unreachable_three_times_audits_once() -> None:
    # given a lookup graphops gave up on (Graph unreachable): the mailbox is still warned
    ticket = make_ticket(directory_state=DirectoryState.PENDING, directory_facts={}, manager_upn="")
    operation = _finish(_lookup(ticket), error_code="timeout")
    once = _effects(ticket)
    assert once["directory_state"] == DirectoryState.UNREACHABLE
    assert once["audit"].count("ticket.directory_checked") == 1 and once["notices"] == 1
    # when / then
    _deliver_again(operation)
    assert _effects(ticket) == once


@pytest.fixture
def executing(agent, approver):  # type: ignore[no-untyped-def]
    """An approved case: EXECUTING, its first Graph step queued."""

    def make(**plan_changes: Any) -> Ticket:
        ticket = make_ticket()
        verify(ticket, agent, the_plan=casework.plan(**plan_changes))
        workflow.decide_as_manager(
            casework.last_link_token(), by=make_manager(), confirm=True, reason="Ok"
        )
        workflow.approve(ticket, by=approver)
        ticket.refresh_from_db()
        assert ticket.status == Status.EXECUTING
        return ticket

    return make


def _step(ticket: Ticket, position: int) -> GraphOperation:
    step = RecoveryStep.objects.get(ticket=ticket, position=position)
    assert step.operation_id is not None, f"step {position} not requested"
    return GraphOperation.objects.get(pk=step.operation_id)


def test_a_step_succeeding_three_times_queues_the_next_step_once(executing) -> None:  # type: ignore[no-untyped-def]
    # given the first of three steps succeeded: the second is queued
    ticket = executing()
    operation = _finish(_step(ticket, 0))
    once = _effects(ticket)
    assert once["operations"] == 2 and once["status"] == Status.EXECUTING
    # when / then
    _deliver_again(operation)
    assert _effects(ticket) == once
    assert RecoveryStep.objects.filter(ticket=ticket, operation_id__isnull=False).count() == 2


def test_the_last_step_succeeding_three_times_executes_and_mails_once(executing) -> None:  # type: ignore[no-untyped-def]
    # given a case whose steps all succeeded, the last one a pass
    ticket = executing()
    _finish(_step(ticket, 0))
    _finish(_step(ticket, 1))
    expires = (timezone.now() + dt.timedelta(minutes=60)).isoformat()
    last = _finish(_step(ticket, 2), result={"tap_id": "tap-1", "expires_at": expires})
    once = _effects(ticket)
    assert once["status"] == Status.EXECUTED and once["deliveries"] == 1
    assert once["audit"].count("ticket.executed") == 1
    # when / then
    _deliver_again(last)
    assert _effects(ticket) == once


def test_a_step_failing_three_times_fails_the_case_once(executing) -> None:  # type: ignore[no-untyped-def]
    ticket = executing()
    operation = _finish(_step(ticket, 0), error_code="ServiceUnavailable")
    once = _effects(ticket)
    assert once["status"] == Status.FAILED
    assert once["audit"].count("ticket.execution_failed") == 1
    _deliver_again(operation)
    assert _effects(ticket) == once


def test_an_earlier_success_delivered_after_a_later_failure_leaves_the_case_failed(
    executing,
) -> None:  # type: ignore[no-untyped-def]
    # given the first step succeeded and the second failed
    ticket = executing()
    first = _finish(_step(ticket, 0))
    _finish(_step(ticket, 1), error_code="ServiceUnavailable")
    once = _effects(ticket)
    assert once["status"] == Status.FAILED
    # when the first step's success arrives again
    _deliver_again(first, times=3)
    # then the case still waits for the failed step's retry
    assert _effects(ticket) == once
    assert workflow.failed_operation(ticket) == _step(ticket, 1)


def test_a_follow_up_finding_a_new_method_three_times_restores_once(executing) -> None:  # type: ignore[no-untyped-def]
    # given an executed case whose follow-up check found a new method
    ticket = executing(issue_tap=False)
    _finish(_step(ticket, 0))
    _finish(_step(ticket, 1))
    Verification.objects.update(last_check_at=timezone.now() - dt.timedelta(hours=1))
    assert workflow.request_follow_ups() == 1
    check = GraphOperation.objects.get(kind=Kind.CHECK_NEW_METHODS, correlation=ticket.reference)
    check = _finish(check, result={"has_new_method": True, "new_methods": [{"type": "fido2"}]})
    once = _effects(ticket)
    assert once["status"] == Status.RESTORED
    assert once["audit"].count("ticket.restored") == 1
    # when / then
    _deliver_again(check)
    assert _effects(ticket) == once
    assert check.status == OpStatus.SUCCEEDED

"""tickets.workflow after the approvals: steps, outcome, once-only TAP, follow-up, containment.

graphops' worker is played by ``casework.finish`` (the row moves, the signal is sent); the real
worker against the simulated tenant is exercised in test_workflow_worker.py and the browser test.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from audit.models import AuditEvent
from graphops.models import GraphOperation, Kind, OpStatus
from tests.tickets import casework
from tests.tickets.casework import finish, make_manager, make_ticket, verify
from tickets import workflow
from tickets.models import RecoveryStep, Status, TapChannel, TapDelivery, Verification

pytestmark = pytest.mark.django_db

PASS = "Tap-8xk2-QW"  # what the simulated Graph would return; must surface exactly once


@pytest.fixture
def executing(agent, approver):  # type: ignore[no-untyped-def]
    """A case approved by two people: EXECUTING, its first Graph step queued."""

    def make(**plan_changes):  # type: ignore[no-untyped-def]
        ticket = make_ticket()
        manager = make_manager()
        verify(ticket, agent, the_plan=casework.plan(**plan_changes))
        workflow.decide_as_manager(
            casework.last_link_token(), by=manager, confirm=True, reason="Ok"
        )
        workflow.approve(ticket, by=approver)
        ticket.refresh_from_db()
        assert ticket.status == Status.EXECUTING
        return ticket

    return make


def _current_operation(ticket):  # type: ignore[no-untyped-def]
    step = RecoveryStep.objects.filter(ticket=ticket, operation_id__isnull=False).last()
    return GraphOperation.objects.get(pk=step.operation_id)


def _run_all_steps(ticket):  # type: ignore[no-untyped-def]
    """Let every step succeed in order; the TAP step hands back PASS."""
    while True:
        op = _current_operation(ticket)
        if op.status != OpStatus.PENDING:
            return
        if op.kind == Kind.ISSUE_TAP:
            expires = (timezone.now() + dt.timedelta(minutes=60)).isoformat()
            with casework.committed():
                finish(op, result={"tap_id": "tap-1", "expires_at": expires}, secret=PASS)
        else:
            finish(op)


def test_steps_run_in_order_and_the_case_ends_executed(executing) -> None:  # type: ignore[no-untyped-def]
    # given
    ticket = executing()
    # when
    _run_all_steps(ticket)
    # then
    ticket.refresh_from_db()
    assert ticket.status == Status.EXECUTED
    ops = GraphOperation.objects.filter(correlation=ticket.reference).order_by("created_at")
    assert [o.kind for o in ops] == [Kind.REVOKE_SESSIONS, Kind.DELETE_METHODS, Kind.ISSUE_TAP]
    assert ops[1].params == {"method_ids": ["m-auth"]}
    assert ops[2].params == {"one_time": True, "lifetime_minutes": 60}
    assert Verification.objects.get(ticket=ticket).executed_at is not None


def test_execution_notifies_the_account_and_the_manager_without_the_pass(executing) -> None:  # type: ignore[no-untyped-def]
    ticket = executing()
    mail.outbox.clear()
    _run_all_steps(ticket)
    recipients = {r for m in mail.outbox for r in m.to}
    assert {ticket.upn, casework.MANAGER_UPN} <= recipients
    assert all(PASS not in m.body and PASS not in m.subject for m in mail.outbox)


def test_a_repeated_outcome_signal_changes_nothing(executing) -> None:  # type: ignore[no-untyped-def]
    # given the first step finished and the second queued
    ticket = executing()
    first = _current_operation(ticket)
    finish(first)
    # when graphops reports the first step again
    workflow.on_operation_finished(sender=None, operation=first)
    # then nothing more was queued
    assert GraphOperation.objects.filter(correlation=ticket.reference).count() == 2


def test_a_failed_step_fails_the_case_with_its_reason_and_can_be_retried(executing, agent) -> None:  # type: ignore[no-untyped-def]
    # given
    ticket = executing()
    op = _current_operation(ticket)
    # when
    finish(op, status=OpStatus.FAILED, error="Service unavailable", retryable=True)
    # then
    ticket.refresh_from_db()
    assert ticket.status == Status.FAILED
    assert workflow.failed_operation(ticket) == op
    event = AuditEvent.objects.get(ticket_ref=ticket.reference, action="ticket.execution_failed")
    assert event.outcome == "failure"
    # when the agent retries
    workflow.retry_failed_step(ticket, by=agent)
    ticket.refresh_from_db()
    op.refresh_from_db()
    assert ticket.status == Status.EXECUTING and op.status == OpStatus.PENDING
    finish(op)
    assert _current_operation(ticket).kind == Kind.DELETE_METHODS


def test_retry_refuses_a_permanent_failure(executing, agent) -> None:  # type: ignore[no-untyped-def]
    ticket = executing()
    finish(_current_operation(ticket), status=OpStatus.FAILED, error="Forbidden", retryable=False)
    with pytest.raises(workflow.TransitionRefused):
        workflow.retry_failed_step(ticket, by=agent)


def test_retry_requires_a_role_that_works_cases(executing, auditor) -> None:  # type: ignore[no-untyped-def]
    ticket = executing()
    finish(_current_operation(ticket), status=OpStatus.FAILED, error="x", retryable=True)
    with pytest.raises(PermissionDenied):
        workflow.retry_failed_step(ticket, by=auditor)


# --- once-only delivery --------------------------------------------------------------------------


def test_reveal_tap_shows_the_pass_once_to_the_requester(executing) -> None:  # type: ignore[no-untyped-def]
    # given
    ticket = executing()
    _run_all_steps(ticket)
    ticket.refresh_from_db()
    assert workflow.may_reveal(ticket, channel=TapChannel.REQUESTER)
    # when
    value = workflow.reveal_tap(ticket, channel=TapChannel.REQUESTER)
    # then
    assert value == PASS
    op = GraphOperation.objects.get(kind=Kind.ISSUE_TAP, correlation=ticket.reference)
    assert op.secret_ciphertext == "" and op.secret_revealed_at is not None
    assert not workflow.may_reveal(ticket, channel=TapChannel.REQUESTER)
    with pytest.raises(workflow.TransitionRefused):
        workflow.reveal_tap(ticket, channel=TapChannel.REQUESTER)
    revealed = AuditEvent.objects.get(ticket_ref=ticket.reference, action="ticket.tap_revealed")
    assert revealed.data["channel"] == "requester"
    assert PASS not in str(list(AuditEvent.objects.values_list("data", "reason", "personal")))


def test_reveal_tap_refuses_the_other_channel(executing, agent) -> None:  # type: ignore[no-untyped-def]
    ticket = executing()
    _run_all_steps(ticket)
    with pytest.raises(workflow.TransitionRefused):
        workflow.reveal_tap(ticket, channel=TapChannel.AGENT, by=agent)


def test_reveal_tap_to_the_agent_only_for_the_verifier(executing, agent, agent2) -> None:  # type: ignore[no-untyped-def]
    ticket = executing(tap_channel=TapChannel.AGENT)
    _run_all_steps(ticket)
    with pytest.raises(PermissionDenied):
        workflow.reveal_tap(ticket, channel=TapChannel.AGENT, by=agent2)
    assert workflow.reveal_tap(ticket, channel=TapChannel.AGENT, by=agent) == PASS


def test_reveal_tap_refuses_after_the_window(executing) -> None:  # type: ignore[no-untyped-def]
    ticket = executing()
    _run_all_steps(ticket)
    TapDelivery.objects.update(available_until=timezone.now() - dt.timedelta(seconds=1))
    with pytest.raises(workflow.TransitionRefused):
        workflow.reveal_tap(ticket, channel=TapChannel.REQUESTER)


# --- follow-up -----------------------------------------------------------------------------------


def _executed(executing):  # type: ignore[no-untyped-def]
    ticket = executing()
    _run_all_steps(ticket)
    Verification.objects.update(last_check_at=timezone.now() - dt.timedelta(hours=1))
    assert workflow.request_follow_ups() == 1
    check = GraphOperation.objects.get(kind=Kind.CHECK_NEW_METHODS, correlation=ticket.reference)
    assert check.params["tap_id"] == "tap-1"
    return ticket, check


def test_follow_up_closes_the_case_as_restored_when_a_method_was_registered(executing) -> None:  # type: ignore[no-untyped-def]
    ticket, check = _executed(executing)
    finish(check, result={"has_new_method": True, "new_methods": [{"type": "fido2"}]})
    ticket.refresh_from_db()
    assert ticket.status == Status.RESTORED


def test_follow_up_reopens_a_flagged_case_when_the_pass_expired_unused(executing) -> None:  # type: ignore[no-untyped-def]
    ticket, check = _executed(executing)
    finish(check, result={"has_new_method": False, "tap_expired_unused": True})
    ticket.refresh_from_db()
    assert ticket.status == Status.IN_VERIFICATION and ticket.flagged
    assert not Verification.objects.filter(ticket=ticket, active=True).exists()


def test_follow_up_waits_while_nothing_happened_yet(executing) -> None:  # type: ignore[no-untyped-def]
    ticket, check = _executed(executing)
    finish(check, result={"has_new_method": False, "tap_expired_unused": False})
    ticket.refresh_from_db()
    assert ticket.status == Status.EXECUTED
    assert workflow.request_follow_ups() == 0  # not due again yet


# --- "this wasn't me" and fraud ------------------------------------------------------------------


def test_report_not_me_before_execution_freezes_and_alerts(agent, security) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket()
    verify(ticket, agent)
    with casework.committed():
        workflow.report_not_me(ticket, reason="The account holder says no.")
    ticket.refresh_from_db()
    assert ticket.status == Status.FROZEN
    assert not GraphOperation.objects.filter(correlation=ticket.reference).exists()
    assert any(security.email in m.to for m in mail.outbox)


def test_report_not_me_after_execution_revokes_the_pass_and_sessions(executing, security) -> None:  # type: ignore[no-untyped-def]
    # given an executed case whose pass was not shown yet
    ticket = executing()
    _run_all_steps(ticket)
    # when
    with casework.committed():
        workflow.report_not_me(ticket, reason="Holder says not me")
    # then
    ticket.refresh_from_db()
    assert ticket.status == Status.FROZEN
    contained = GraphOperation.objects.filter(correlation=ticket.reference).order_by("-created_at")
    kinds = {(o.kind, str(o.params)) for o in contained[:2]}
    assert (Kind.DELETE_METHODS, str({"method_types": ["temporaryAccessPass"]})) in kinds
    assert (Kind.REVOKE_SESSIONS, "{}") in {(k, p) for k, p in kinds}
    with pytest.raises(workflow.TransitionRefused):
        workflow.reveal_tap(ticket, channel=TapChannel.REQUESTER)
    assert any(security.email in m.to and "URGENT" in m.subject for m in mail.outbox)


def test_report_not_me_on_a_restored_case_still_contains_it(executing) -> None:  # type: ignore[no-untyped-def]
    ticket, check = _executed(executing)
    finish(check, result={"has_new_method": True})
    workflow.report_not_me(ticket)
    ticket.refresh_from_db()
    assert ticket.status == Status.RESTORED  # a closed case is not reopened, but contained
    assert (
        GraphOperation.objects.filter(
            correlation=ticket.reference, kind=Kind.REVOKE_SESSIONS
        ).count()
        == 2
    )


def test_a_pass_issued_after_a_freeze_is_never_shown_and_is_deleted(executing) -> None:  # type: ignore[no-untyped-def]
    # given the case is frozen while the TAP step is in flight
    ticket = executing(revoke_sessions=False, remove_methods="none")
    op = _current_operation(ticket)
    assert op.kind == Kind.ISSUE_TAP
    workflow.flag_fraud(ticket, by=casework.staff("agent9", ["helpdesk_agent"]), reason="Odd call")
    # when the pass arrives
    finish(op, result={"tap_id": "tap-9"}, secret=PASS)
    # then
    assert not workflow.may_reveal(ticket, channel=TapChannel.REQUESTER)
    deletes = GraphOperation.objects.filter(correlation=ticket.reference, kind=Kind.DELETE_METHODS)
    assert deletes.count() == 2  # once at the freeze, once when the late pass arrived


def test_flag_fraud_needs_a_reason(agent) -> None:  # type: ignore[no-untyped-def]
    ticket = workflow.claim(make_ticket(), by=agent)
    with pytest.raises(workflow.TransitionRefused):
        workflow.flag_fraud(ticket, by=agent, reason="  ")


def test_close_a_frozen_case_needs_a_security_officer(agent, security) -> None:  # type: ignore[no-untyped-def]
    ticket = workflow.claim(make_ticket(), by=agent)
    workflow.flag_fraud(ticket, by=agent, reason="Voice did not match")
    ticket.refresh_from_db()
    with pytest.raises(PermissionDenied):
        workflow.close(ticket, by=agent, reason="done")
    assert workflow.close(ticket, by=security, reason="Confirmed attack").status == Status.CLOSED

"""The workflow across the queue: a real Celery worker carries out the approved plan on the
simulated tenant (real msal + msgraph-sdk over HTTP), and the case follows the outcome."""

from __future__ import annotations

import time

import pytest

from graphops.models import GraphOperation, Kind
from tests.tickets import casework
from tests.tickets.casework import make_manager, make_ticket, staff, verify
from tickets import plans, workflow
from tickets.models import Status, TapChannel

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

UPN = "mario.rossi@contoso.example"


@pytest.fixture(autouse=True)
def fresh_broker_pools():  # type: ignore[no-untyped-def]
    """Fresh kombu pools in this process: a test that points Celery at a dead broker and puts
    the old pools back (test_public_limits.redis_down) can leave them closed, and a closed pool
    drops every after-commit enqueue (the ledger rows would wait for a beat sweep)."""
    from recovery_portal.celery import app

    app._pool = None
    app.amqp._producer_pool = None


def _facts(run_operation) -> dict:  # type: ignore[no-untyped-def]
    """What the intake's directory lookup stores, read from the simulated tenant."""
    lookup = GraphOperation.objects.create(kind=Kind.DIRECTORY_LOOKUP, target_upn=UPN)
    return run_operation(lookup).result


def wait_for_ticket(ticket, *statuses: str, timeout: float = 90):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ticket.refresh_from_db()
        if ticket.status in statuses:
            return ticket
        time.sleep(0.2)
    raise TimeoutError(f"{ticket.reference} still {ticket.status}")


def _approved_case(facts: dict, *, plan_changes: dict | None = None):  # type: ignore[no-untyped-def]
    manager_upn = facts["manager"]["userPrincipalName"].lower()
    ticket = make_ticket(
        upn=UPN, manager_upn=manager_upn, directory_facts=facts, is_privileged=False
    )
    agent = staff("agent", ["helpdesk_agent"])
    # The plan the form proposes: every method of the lost phone (app and number); Graph
    # refuses to delete the default method while others remain, so they go together.
    lost = plans.lost_device_method_ids(ticket)
    assert lost
    verify(
        ticket,
        agent,
        the_plan=casework.plan(method_ids_to_remove=tuple(lost), **(plan_changes or {})),
    )
    workflow.decide_as_manager(
        casework.last_link_token(),
        by=make_manager(email=manager_upn),
        confirm=True,
        reason="He told me this morning.",
    )
    workflow.approve(ticket, by=staff("approver", ["approver"]))
    return ticket, lost


def test_worker_carries_out_the_plan_and_the_pass_is_shown_once(
    simtenant, celery_worker, run_operation
) -> None:  # type: ignore[no-untyped-def]
    # given an approved case for a real account of the simulated tenant
    facts = _facts(run_operation)
    ticket, lost = _approved_case(facts)
    # when the worker runs the steps
    wait_for_ticket(ticket, Status.EXECUTED, Status.FAILED)
    # then
    assert ticket.status == Status.EXECUTED, celery_worker.log()[-3000:]
    methods = {m["id"] for m in simtenant.user(UPN)["methods"]}
    assert not set(lost) & methods
    value = workflow.reveal_tap(ticket, channel=TapChannel.REQUESTER)
    assert len(value) >= 8
    with pytest.raises(workflow.TransitionRefused):
        workflow.reveal_tap(ticket, channel=TapChannel.REQUESTER)
    tap_ops = GraphOperation.objects.filter(correlation=ticket.reference, kind=Kind.ISSUE_TAP)
    assert tap_ops.count() == 1 and tap_ops.get().secret_ciphertext == ""


def test_worker_failure_shows_the_reason_and_a_retry_after_the_fix_completes(
    simtenant, celery_worker, run_operation
) -> None:  # type: ignore[no-untyped-def]
    # given the tenant's TAP policy is switched off after the case was approved
    facts = _facts(run_operation)
    simtenant.tap_policy(state="disabled")
    ticket, _ = _approved_case(facts, plan_changes={"revoke_sessions": False})
    # when
    wait_for_ticket(ticket, Status.FAILED, Status.EXECUTED)
    # then the case shows which step failed and why (something an admin can fix)
    assert ticket.status == Status.FAILED
    failed = workflow.failed_operation(ticket)
    assert failed is not None and failed.kind == Kind.ISSUE_TAP
    assert "Temporary Access Pass" in failed.error_message and failed.retryable
    # when the admin turns the policy on and the agent retries
    simtenant.tap_policy(state="enabled")
    workflow.retry_failed_step(ticket, by=staff("agent2", ["helpdesk_agent"]))
    # then
    wait_for_ticket(ticket, Status.EXECUTED)
    assert (
        GraphOperation.objects.filter(correlation=ticket.reference, kind=Kind.ISSUE_TAP).count()
        == 1
    )


def test_follow_up_on_the_worker_sees_the_new_method_and_restores(
    simtenant, celery_worker, run_operation
) -> None:  # type: ignore[no-untyped-def]
    # given an executed case
    facts = _facts(run_operation)
    ticket, _ = _approved_case(facts)
    wait_for_ticket(ticket, Status.EXECUTED)
    # when the person registers a new passkey and the follow-up runs
    simtenant.register_method(UPN, "fido2", displayName="New passkey")
    from tickets.models import Verification

    Verification.objects.filter(ticket=ticket).update(last_check_at="2000-01-01T00:00:00Z")
    assert workflow.request_follow_ups() == 1
    # then
    wait_for_ticket(ticket, Status.RESTORED)

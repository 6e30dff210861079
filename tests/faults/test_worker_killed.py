"""kill -9 of the Celery worker in the middle of a case: the ticket is not lost, no pass is issued
twice behind anyone's back, the agent's page says what happened, and the next worker plus the
beat's recovery sweep finish the job (or hand it to a person when Graph cannot tell)."""

from __future__ import annotations

import time

import pytest

from graphops import tasks
from graphops.models import OpStatus
from tests.conftest import sign_in
from tests.faults.conftest import (
    UPN,
    busy_with,
    directory_facts,
    in_background,
    tap_operations,
    tap_posts,
    verified_case,
    wait_for_ticket,
    wait_until,
)
from tests.tickets.casework import reauthenticated, staff
from tickets import plans, workflow
from tickets.models import Status, TapChannel

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _beat_until(task, check, *, timeout: float = 40):  # type: ignore[no-untyped-def]
    """What Celery beat does, faster: send the task's message every second until ``check``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        task.delay()
        time.sleep(1)
    raise TimeoutError(f"{task.name} did not bring the expected state")


def _status(ticket):  # type: ignore[no-untyped-def]
    ticket.refresh_from_db()
    return ticket.status


def _stalled_at_the_tenant(simtenant) -> None:  # type: ignore[no-untyped-def]
    """Wait until the stalling fault has caught its request: the worker is then inside the Graph
    call. (A worker killed before it sends the request would leave the fault to its successor.)"""
    wait_until(lambda: not simtenant.state()["faults"], what="the request stalled at the tenant")


def _running_tap(ticket):  # type: ignore[no-untyped-def]
    ops = tap_operations(ticket)
    return ops and ops[0].status == OpStatus.RUNNING


def test_worker_killed_after_the_tap_post_leaves_the_case_for_review_with_one_pass(
    simtenant, start_worker, run_operation, client
) -> None:  # type: ignore[no-untyped-def]
    # given an approved case whose TAP request reaches Graph, which creates the pass and stalls
    facts = directory_facts(run_operation)
    simtenant.fault(
        delay_seconds=60,
        delay_after_action=True,
        method="POST",
        path_contains="temporaryAccessPassMethods",
    )
    starting = in_background(start_worker, 2)
    ticket, agent = verified_case(facts)
    workers = starting.result()
    workflow.approve(ticket, by=staff("approver", ["approver"]))
    wait_until(lambda: simtenant.user(UPN)["taps_issued"] == 1, what="the pass in Graph")
    # when the worker holding the TAP step dies before it could store the pass
    busy_with(workers, "graphops.issue_tap").kill()
    ticket.refresh_from_db()
    assert ticket.status == Status.EXECUTING and _running_tap(ticket)
    # then the agent's page says the case is being carried out, the step is running
    sign_in(client, agent)
    page = client.get(f"/staff/tickets/{ticket.pk}/").content.decode()
    assert "Being carried out" in page and "Running" in page
    # when the beat's stale sweep runs on the surviving worker
    _beat_until(tasks.recover_stale, lambda: not _running_tap(ticket))
    # then Graph was asked, the pass it holds was found: a person must decide, nothing re-sent
    wait_for_ticket(ticket, Status.FAILED)
    [operation] = tap_operations(ticket)
    assert operation.status == OpStatus.NEEDS_REVIEW
    assert operation.error_code == "tap_created_value_lost"
    assert operation.secret_ciphertext == ""
    assert simtenant.user(UPN)["taps_issued"] == 1
    page = client.get(f"/staff/tickets/{ticket.pk}/").content.decode()
    assert "Execution failed" in page and operation.error_message[:40] in page
    # when the agent decides to issue a new pass (the retry button)
    response = reauthenticated(client, agent).post(f"/staff/tickets/{ticket.pk}/retry/")
    assert response.status_code == 302
    # then exactly one more pass, which replaces the lost one, shown once
    wait_for_ticket(ticket, Status.EXECUTED)
    assert simtenant.user(UPN)["taps_issued"] == 2
    assert simtenant.user(UPN)["tap"]["id"] == tap_operations(ticket)[0].result["tap_id"]
    assert workflow.reveal_tap(ticket, channel=TapChannel.REQUESTER)
    with pytest.raises(workflow.TransitionRefused):
        workflow.reveal_tap(ticket, channel=TapChannel.REQUESTER)


def test_worker_killed_before_the_tap_post_finishes_the_case_after_recovery(
    simtenant, start_worker, run_operation
) -> None:  # type: ignore[no-untyped-def]
    # given an approved case whose TAP step hangs on reading the policy (before any POST)
    facts = directory_facts(run_operation)
    simtenant.fault(
        delay_seconds=30, method="GET", path_contains="authenticationMethodConfigurations"
    )
    starting = in_background(start_worker, 2)
    ticket, _agent = verified_case(facts)
    workers = starting.result()
    workflow.approve(ticket, by=staff("approver", ["approver"]))
    wait_until(lambda: _running_tap(ticket), what="the TAP step running")
    _stalled_at_the_tenant(simtenant)
    # when the worker holding it is killed, and the beat's sweep runs
    busy_with(workers, "graphops.issue_tap").kill()
    _beat_until(tasks.recover_stale, lambda: not _running_tap(ticket))
    # then Graph showed no pass: the step ran again, once, and the case is ready
    wait_for_ticket(ticket, Status.EXECUTED)
    [operation] = tap_operations(ticket)
    assert operation.status == OpStatus.SUCCEEDED and operation.attempts == 2
    assert simtenant.user(UPN)["taps_issued"] == 1 and tap_posts(simtenant, ticket) == 1
    assert workflow.reveal_tap(ticket, channel=TapChannel.REQUESTER)


def test_worker_killed_during_a_method_deletion_repeats_it_safely(
    simtenant, start_worker, run_operation
) -> None:  # type: ignore[no-untyped-def]
    # given Graph deletes the first method of the lost phone, then hangs
    facts = directory_facts(run_operation)
    simtenant.fault(
        delay_seconds=30, delay_after_action=True, method="DELETE", path_contains="Methods/"
    )
    starting = in_background(start_worker, 2)
    ticket, _agent = verified_case(facts, revoke_sessions=False)
    workers = starting.result()
    workflow.approve(ticket, by=staff("approver", ["approver"]))
    # when the worker holding the deletion is killed while Graph is busy with it
    busy_with(workers, "graphops.delete_methods")
    _stalled_at_the_tenant(simtenant)
    busy_with(workers, "graphops.delete_methods").kill()
    # then the deletion (repeatable) runs again, and the case completes with one pass
    _beat_until(
        tasks.recover_stale,
        lambda: (
            wait_for_ticket(ticket, Status.EXECUTED, Status.EXECUTING, Status.FAILED)
            and ticket.status == Status.EXECUTED
        ),
        timeout=50,
    )
    assert simtenant.user(UPN)["taps_issued"] == 1
    lost = set(plans.lost_device_method_ids(ticket))
    assert lost and not lost & {m["id"] for m in simtenant.user(UPN)["methods"]}

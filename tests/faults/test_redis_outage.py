"""Redis (the Celery broker and the cache) stops while an approver saves an approval, then comes
back empty (the test Redis keeps nothing on disk, like a lost broker). The approval must commit,
the operation it asked for must wait as a PENDING row, and run exactly once when Redis is back:
the message lost at enqueue time is sent again by the beat's ``send_due`` sweep."""

from __future__ import annotations

import json
import time

import pytest

from graphops import tasks
from graphops.models import GraphOperation, OpStatus
from tests.conftest import sign_in
from tests.faults.conftest import (
    UPN,
    directory_facts,
    in_background,
    tap_operations,
    verified_case,
    wait_until,
)
from tests.tickets.casework import reauthenticated, staff
from tickets.models import Status

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _status(ticket):  # type: ignore[no-untyped-def]
    ticket.refresh_from_db()
    return ticket.status


def test_approval_saved_while_redis_is_down_runs_once_when_it_is_back(
    simtenant, start_worker, run_operation, client, services
) -> None:  # type: ignore[no-untyped-def]
    # given a case waiting for approval, a worker, and the approver signed in
    facts = directory_facts(run_operation)
    starting = in_background(start_worker, 1)
    ticket, _agent = verified_case(facts)
    approver = staff("approver", ["approver"])
    sign_in(client, approver)
    reauthenticated(client, approver)
    starting.result()
    # when Redis stops and the approver approves
    services.stop_redis()
    began = time.monotonic()
    response = client.post(f"/staff/tickets/{ticket.pk}/approve/")
    took = time.monotonic() - began
    # then the approval is committed, quickly, and the first step waits as a PENDING row
    assert response.status_code == 302, response.content[:500]
    assert took < 15
    assert _status(ticket) == Status.EXECUTING
    [first] = GraphOperation.objects.filter(correlation=ticket.reference)
    assert first.status == OpStatus.PENDING and first.attempts == 0
    # and the approver sees the case being carried out; the probe reports Redis down
    page = client.get(f"/staff/tickets/{ticket.pk}/").content.decode()
    assert "Being carried out" in page and "Pending" in page
    health = client.get("/health/")
    assert health.status_code == 503
    assert json.loads(health.content)["checks"]["redis"]["ok"] is False
    # when Redis comes back (empty) and the beat's resend sweep ticks
    services.start_redis()
    deadline = time.monotonic() + 45
    while _status(ticket) != Status.EXECUTED and time.monotonic() < deadline:
        tasks.send_due.delay()
        time.sleep(1)
    # then every step ran exactly once, and one pass was issued
    assert _status(ticket) == Status.EXECUTED
    operations = GraphOperation.objects.filter(correlation=ticket.reference)
    assert operations.count() == 3
    assert {(op.status, op.attempts) for op in operations} == {(OpStatus.SUCCEEDED, 1)}
    assert len(tap_operations(ticket)) == 1
    assert simtenant.user(UPN)["taps_issued"] == 1


def test_redis_restart_while_a_step_waits_for_its_retry_loses_nothing(
    simtenant, start_worker, run_operation, services
) -> None:  # type: ignore[no-untyped-def]
    # given an approved case whose TAP request was throttled (429, Retry-After 2 s): its retry
    # is a delayed message held in Redis
    facts = directory_facts(run_operation)
    simtenant.fault(
        status=429, count=1, retry_after=2, method="POST", path_contains="temporaryAccessPass"
    )
    starting = in_background(start_worker, 1)
    ticket, _agent = verified_case(facts, revoke_sessions=False)
    [worker] = starting.result()
    from tickets import workflow

    workflow.approve(ticket, by=staff("approver", ["approver"]))
    wait_until(
        lambda: (
            (ops := tap_operations(ticket)) and ops[0].attempts == 1 and ops[0].status == "pending"
        ),
        what="the throttled TAP step waiting for its retry",
    )
    # when Redis restarts empty (the delayed message is gone)
    services.stop_redis()
    time.sleep(1)
    services.start_redis()
    # A worker holding an unacknowledged (delayed) message when its broker vanishes exits:
    # kombu's restore_unacked fails on the lost connection ("Unrecoverable error:
    # AttributeError"). The deployment's restart policy starts it again; so does this test.
    time.sleep(2)
    if worker.process is not None and worker.process.poll() is not None:
        assert "Unrecoverable error" in worker.log()
        worker = start_worker()
    deadline = time.monotonic() + 45
    while _status(ticket) != Status.EXECUTED and time.monotonic() < deadline:
        tasks.send_due.delay()
        time.sleep(1)
    # then the sweep sent it again and the pass was issued once
    assert _status(ticket) == Status.EXECUTED, worker.log()[-4000:]
    [operation] = tap_operations(ticket)
    assert operation.status == OpStatus.SUCCEEDED and operation.attempts == 2
    assert simtenant.user(UPN)["taps_issued"] == 1

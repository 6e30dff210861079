"""Announcing finished operations: the receivers and the ``announced_at`` mark in one
transaction, a failing receiver leaving the row owed (logged, audited, backed off), and the
sweep announcing what nobody announced."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.utils import timezone

from audit.models import AuditEvent
from graphops import announcements, ledger, operations
from graphops.models import GraphOperation, Kind, OpStatus
from graphops.signals import operation_finished
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

UPN = "mario.rossi@contoso.example"


@pytest.fixture
def receiver() -> Iterator[Callable[..., list[str]]]:
    """Connect a receiver for the test; it records each call and may do more (``then``)."""
    connected: list[Any] = []

    def connect(then: Callable[[GraphOperation], None] | None = None) -> list[str]:
        calls: list[str] = []

        def receive(sender: object, *, operation: GraphOperation, **_: object) -> None:
            calls.append(str(operation.pk))
            if then is not None:
                then(operation)

        operation_finished.connect(receive, weak=False)
        connected.append(receive)
        return calls

    yield connect
    for receive in connected:
        operation_finished.disconnect(receive)


def _finished_unannounced(kind: Kind = Kind.REVOKE_SESSIONS) -> GraphOperation:
    """A row the worker finished and committed, then died before announcing (in a test the
    after-commit attempt never runs unless captured)."""
    operation = operations.request_operation(kind, target_upn=UPN, correlation="RP-A1")
    claimed = ledger.claim(str(operation.pk))
    assert claimed is not None
    return ledger.succeed(claimed, success=ledger.Success(result={"revoked": True}))


def _later(seconds: float = 0) -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=settings.GRAPH_ANNOUNCE_AFTER_SECONDS + seconds)


def test_finishing_commits_the_row_owed_and_announces_it_after_commit(
    receiver, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    # given
    calls = receiver()
    operation = operations.request_operation(Kind.REVOKE_SESSIONS, target_upn=UPN)
    claimed = ledger.claim(str(operation.pk))
    assert claimed is not None
    # when the ledger finishes it, and its transaction commits
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        ledger.fail(claimed, code="Authorization_RequestDenied", message="no permission")
    operation.refresh_from_db()
    # then the committed row is owed an announcement, and the receivers have not run yet
    assert operation.status == OpStatus.FAILED and operation.announced_at is None
    assert calls == []
    # when the after-commit attempt runs
    for callback in callbacks:
        callback()
    # then the receivers ran once and the row says so
    operation.refresh_from_db()
    assert calls == [str(operation.pk)] and operation.announced_at is not None


def test_announce_twice_runs_the_receivers_once(receiver) -> None:  # type: ignore[no-untyped-def]
    calls = receiver()
    operation = _finished_unannounced()
    assert announcements.announce(operation.pk) is True
    assert announcements.announce(operation.pk) is False
    assert calls == [str(operation.pk)]


def test_announce_leaves_an_unfinished_row_alone(receiver) -> None:  # type: ignore[no-untyped-def]
    calls = receiver()
    operation = operations.request_operation(Kind.LIST_METHODS, target_upn=UPN)
    assert announcements.announce(operation.pk) is False
    assert calls == []


def test_a_raising_receiver_undoes_the_announcement_and_leaves_the_row_owed(
    receiver, caplog
) -> None:  # type: ignore[no-untyped-def]
    # given one receiver that writes, and a second one that then fails
    written = receiver(
        lambda op: GraphOperation.objects.filter(pk=op.pk).update(correlation="RP-CHANGED")
    )

    def fail(op: GraphOperation) -> None:
        raise RuntimeError("the case could not take it up")

    receiver(fail)
    operation = _finished_unannounced()
    # when
    before = timezone.now()
    assert announcements.announce(operation.pk) is False
    # then nothing of the announcement is kept: not the first receiver's write, not the mark
    operation.refresh_from_db()
    assert written == [str(operation.pk)]
    assert operation.correlation == "RP-A1"
    assert operation.announced_at is None
    # and the failure is counted, backed off, logged and audited
    assert operation.announce_failures == 1
    assert operation.announce_retry_at is not None
    assert operation.announce_retry_at >= before + announcements.RETRY_FIRST
    assert "outcome not taken up (RuntimeError)" in caplog.text
    event = AuditEvent.objects.get(action="graph.announce_failed")
    assert event.outcome == "failure" and event.ticket_ref == "RP-A1"
    assert event.data == {
        "operation_id": str(operation.pk),
        "kind": Kind.REVOKE_SESSIONS,
        "status": OpStatus.SUCCEEDED,
        "failures": 1,
        "error": "RuntimeError",
    }


def test_the_sweep_announces_what_the_worker_left_once_the_grace_is_over(
    receiver, settings
) -> None:  # type: ignore[no-untyped-def]
    # given a row finished and committed, never announced (the worker died)
    settings.GRAPH_ANNOUNCE_AFTER_SECONDS = 30
    calls = receiver()
    operation = _finished_unannounced()
    # when the sweep runs during the grace (the worker's own attempt comes first), then after
    early = announcements.announce_unannounced()
    late = announcements.announce_unannounced(now=_later(1))
    again = announcements.announce_unannounced(now=_later(2))
    # then it was announced once, by the sweep after the grace
    operation.refresh_from_db()
    assert (early, late, again) == (0, 1, 0)
    assert calls == [str(operation.pk)] and operation.announced_at is not None


def test_the_sweep_backs_off_a_row_whose_receiver_keeps_failing(receiver) -> None:  # type: ignore[no-untyped-def]
    # given a receiver that fails once, then works
    failures = [RuntimeError("first")]

    def flaky(op: GraphOperation) -> None:
        if failures:
            raise failures.pop()

    calls = receiver(flaky)
    operation = _finished_unannounced()
    assert announcements.announce_unannounced(now=_later(1)) == 0
    operation.refresh_from_db()
    retry_at = operation.announce_retry_at
    assert retry_at is not None
    # when the sweep comes back before the back-off is over, then after it
    early = announcements.announce_unannounced(now=retry_at - dt.timedelta(seconds=1))
    late = announcements.announce_unannounced(now=retry_at + dt.timedelta(seconds=1))
    # then it waited, then announced
    assert (early, late) == (0, 1)
    assert len(calls) == 2
    operation.refresh_from_db()
    assert operation.announced_at is not None
    assert operation.announce_failures == 0 and operation.announce_retry_at is None


def test_retry_delay_doubles_from_a_minute_to_an_hour() -> None:
    delays = [announcements.retry_delay(n).total_seconds() for n in (1, 2, 3, 6, 7, 50)]
    assert delays == [60, 120, 240, 1920, 3600, 3600]


def test_a_row_finishing_again_is_owed_a_new_announcement(receiver) -> None:  # type: ignore[no-untyped-def]
    # given an announced failure that a person retries
    calls = receiver()
    operation = operations.request_operation(Kind.LIST_METHODS, target_upn=UPN)
    claimed = ledger.claim(str(operation.pk))
    assert claimed is not None
    ledger.fail(claimed, code="ServiceUnavailable", message="down", retryable=True)
    assert announcements.announce(operation.pk) is True
    officer = UserFactory(username="officer")
    officer.user_permissions.add(Permission.objects.get(codename="retry_graphoperation"))
    operations.retry(operation, by=officer)
    # when it finishes again
    claimed = ledger.claim(str(operation.pk))
    assert claimed is not None
    ledger.succeed(claimed, success=ledger.Success(result={"methods": []}))
    # then this outcome is owed too, and announced
    operation.refresh_from_db()
    assert operation.announced_at is None
    assert announcements.announce(operation.pk) is True
    assert calls == [str(operation.pk), str(operation.pk)]

"""Announcing a finished operation: the outcome row is the truth, the signal its delivery.

A GraphOperation that reaches SUCCEEDED, FAILED or NEEDS_REVIEW is committed with
``announced_at`` null. Announcing it runs the ``operation_finished`` receivers (tickets) and
sets ``announced_at`` in ONE transaction: either the case took the outcome up and the row says
so, or neither happened (a receiver raised, PostgreSQL went away) and the row is still owed.

Who announces:

- the process that finished the row, right after the commit (``after_commit``; the worker, since
  only the worker finishes rows). That process is already the worker running the operation's
  task: a second Celery message would add a broker round trip to every step of every case and
  nothing else, since a worker dying in between is what the sweep is for;
- the beat sweep ``announce_unannounced`` (recovery_portal/celery.py), for every finished row
  still owed after GRAPH_ANNOUNCE_AFTER_SECONDS: the worker died between the commit and the
  announcement, or a receiver failed. A failing row waits longer after each failure (1 min
  doubling to 1 h), each failure logged and audited, so a receiver that keeps failing neither
  spins nor goes unnoticed; it is never given up (a case would be stranded).

Two announcers never run the receivers of one row at the same time: the row is locked
(``FOR UPDATE SKIP LOCKED``: the second one skips it) and re-read, and an announced row is
skipped. Receivers must still be idempotent (graphops/signals.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone

from audit import log
from audit.actions import Action
from audit.models import Outcome
from graphops.models import FINISHED_STATUSES, GraphOperation
from graphops.signals import operation_finished

logger = logging.getLogger(__name__)

RETRY_FIRST = dt.timedelta(minutes=1)
RETRY_LONGEST = dt.timedelta(hours=1)
SWEEP_BATCH = 100


def after_commit(operation: GraphOperation) -> None:
    """Announce ``operation`` once the current transaction commits (in this process). Called by
    the ledger's finishing transitions; a failure is recorded on the row, and the sweep
    announces what this attempt could not (including when this process dies first)."""
    operation_id = operation.pk
    transaction.on_commit(lambda: announce(operation_id))


def announce(operation_id: uuid.UUID | str) -> bool:
    """Run the receivers for a finished, unannounced row and mark it announced, atomically.

    True when this call announced it; False when there was nothing to do (not finished,
    already announced, being announced by another process right now) or a receiver failed —
    then nothing of the announcement is kept, the failure is logged, audited and counted on
    the row, and the sweep tries again after the back-off.
    """
    try:
        return _announce(operation_id)
    except Exception as exc:  # any receiver error: the outcome stays owed, never lost
        _record_failure(operation_id, exc)
        return False


@transaction.atomic
def _announce(operation_id: uuid.UUID | str) -> bool:
    operation = (
        GraphOperation.objects.select_for_update(skip_locked=True)
        .filter(pk=operation_id, status__in=FINISHED_STATUSES, announced_at__isnull=True)
        .first()
    )
    if operation is None:
        return False
    operation_finished.send(sender=GraphOperation, operation=operation)
    GraphOperation.objects.filter(pk=operation.pk).update(
        announced_at=timezone.now(), announce_failures=0, announce_retry_at=None
    )
    return True


def _record_failure(operation_id: uuid.UUID | str, exc: Exception) -> None:
    logger.error(
        "graph operation %s: outcome not taken up (%s); announced again later",
        operation_id,
        type(exc).__name__,
        exc_info=exc,
    )
    try:
        _count_failure(operation_id, error=type(exc).__name__)
    except DatabaseError:  # the database is what failed: the sweep finds the row all the same
        logger.exception("graph operation %s: the failed announcement not recorded", operation_id)


@transaction.atomic
def _count_failure(operation_id: uuid.UUID | str, *, error: str) -> None:
    operation = (
        GraphOperation.objects.select_for_update(skip_locked=True)
        .filter(pk=operation_id, announced_at__isnull=True)
        .first()
    )
    if operation is None:
        return
    failures = operation.announce_failures + 1
    GraphOperation.objects.filter(pk=operation.pk).update(
        announce_failures=failures, announce_retry_at=timezone.now() + retry_delay(failures)
    )
    log.record(
        Action.GRAPH_ANNOUNCE_FAILED,
        actor=log.SYSTEM,
        on_behalf_of=operation.requested_by,
        ticket_ref=operation.correlation[:32],
        subject=operation.target_upn,
        outcome=Outcome.FAILURE,
        data={
            "operation_id": str(operation.pk),
            "kind": operation.kind,
            "status": operation.status,
            "failures": failures,
            "error": error,
        },
    )


def retry_delay(failures: int) -> dt.timedelta:
    """How long the sweep leaves a row alone after its ``failures``-th failed announcement."""
    return min(RETRY_LONGEST, RETRY_FIRST * 2 ** min(max(failures - 1, 0), 16))


def unannounced(*, now: dt.datetime | None = None) -> list[uuid.UUID]:
    """Finished rows still owed an announcement and due for one, oldest first."""
    now = now or timezone.now()
    quiet_since = now - dt.timedelta(seconds=settings.GRAPH_ANNOUNCE_AFTER_SECONDS)
    due = GraphOperation.objects.filter(
        status__in=FINISHED_STATUSES, announced_at__isnull=True, finished_at__lte=quiet_since
    ).filter(Q(announce_retry_at__isnull=True) | Q(announce_retry_at__lte=now))
    return list(due.order_by("finished_at").values_list("pk", flat=True)[:SWEEP_BATCH])


def announce_unannounced(*, now: dt.datetime | None = None) -> int:
    """The beat sweep: announce every due row (each in its own transaction). Returns how many
    were announced now."""
    return sum(announce(operation_id) for operation_id in unannounced(now=now))

"""Putting operation ids on the queue, by task name. The message carries the id only; losing one
is harmless (the beat sweep ``send_due`` re-sends due rows), sending one twice is a no-op (the
claim).

Tasks are named after their kind (``graphops.<kind>``, generated in ``graphops.tasks``); this
module sends them by that name and so needs neither the tasks module nor the runner behind it.
"""

from __future__ import annotations

import datetime as dt
import logging

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from graphops.models import GraphOperation, OpStatus

logger = logging.getLogger(__name__)

TASK_PREFIX = "graphops."


def task_name(kind: str) -> str:
    """The Celery task that carries out operations of ``kind`` (in-flight messages use it)."""
    return f"{TASK_PREFIX}{kind}"


def send(*, kind: str, operation_id: str, countdown: float | None = None) -> None:
    current_app.signature(task_name(kind), args=[operation_id]).apply_async(countdown=countdown)


def enqueue_after_commit(operation: GraphOperation) -> None:
    """Send the task once the current transaction commits, due at the row's ``not_before``.
    A broker error is logged, not raised: the row stays PENDING and the beat sweep sends it
    again."""
    kind, operation_id = operation.kind, str(operation.pk)
    countdown = _seconds_until(operation.not_before)
    if countdown is not None and countdown > settings.GRAPH_MAX_COUNTDOWN_SECONDS:
        return  # far in the future: the beat sweep sends it when due
    transaction.on_commit(
        lambda: send(kind=kind, operation_id=operation_id, countdown=countdown), robust=True
    )


def _seconds_until(moment: dt.datetime | None) -> float | None:
    if moment is None:
        return None
    return max(0.0, (moment - timezone.now()).total_seconds())


def send_due(*, now: dt.datetime | None = None) -> int:
    """Re-send PENDING rows that are due and have not moved for a while (lost messages,
    a broker outage at enqueue time, a not_before too far away for a countdown)."""
    now = now or timezone.now()
    quiet_since = now - dt.timedelta(seconds=settings.GRAPH_RESEND_AFTER_SECONDS)
    due = GraphOperation.objects.filter(status=OpStatus.PENDING, updated_at__lt=quiet_since).filter(
        Q(not_before__isnull=True) | Q(not_before__lte=now)
    )
    count = 0
    for operation_id, kind in due.values_list("pk", "kind")[:500]:
        # Touch first: a slow queue must not get the same id again on every sweep.
        GraphOperation.objects.filter(pk=operation_id, status=OpStatus.PENDING).update(
            updated_at=now
        )
        send(kind=kind, operation_id=str(operation_id))
        count += 1
    return count

"""Beat-driven repairs of the ledger: rows whose worker died, secrets nobody collected, and
Conditional Access exclusions whose removal failed (an exclusion must never outlive its window).

(Named for what it does to the ledger; "recovery" in this product is the employee's MFA
recovery.)
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit import log
from audit.actions import Action
from graphops import client, dispatch, errors, executors, ledger
from graphops.models import GraphOperation, Kind, OpStatus

logger = logging.getLogger(__name__)
REMOVAL_RETRY_AFTER = dt.timedelta(minutes=10)


def recover_stale(*, now: dt.datetime | None = None) -> int:
    """RUNNING rows older than GRAPH_STALE_AFTER_SECONDS: their worker died (or lost its
    connection). Repeatable kinds run again; a TAP is looked for in Graph first."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.GRAPH_STALE_AFTER_SECONDS)
    stale = GraphOperation.objects.filter(status=OpStatus.RUNNING, started_at__lt=cutoff)
    count = 0
    for operation in stale.order_by("started_at")[:100]:
        try:
            recover(operation)
        except ledger.TransitionLost:
            continue  # finished (or recovered) by someone else meanwhile
        count += 1
    return count


def recover(operation: GraphOperation) -> GraphOperation:
    """Decide what happens to one stale RUNNING row. Idempotent: a CAS on RUNNING."""
    if operation.attempts >= settings.GRAPH_MAX_ATTEMPTS:
        return ledger.fail(
            operation,
            code="worker_lost",
            message=f"The worker stopped during each of {operation.attempts} attempts.",
            retryable=True,
        )
    if ledger.is_repeatable(operation.kind):
        return _release(
            operation, reason="The worker stopped mid-operation; repeated (safe for this kind)."
        )
    return _recover_tap(operation)


@transaction.atomic
def _release(operation: GraphOperation, *, reason: str) -> GraphOperation:
    operation = ledger.release(operation, reason=reason)
    dispatch.enqueue_after_commit(operation)
    return operation


def _recover_tap(operation: GraphOperation) -> GraphOperation:
    key = operation.target_user_id or operation.target_upn

    async def look(s: client.Session) -> object:
        return await executors.find_tap_since(s, key, started=operation.started_at)

    try:
        found, _ = client.run(look, client_request_id=str(operation.pk))
    except errors.GraphCallError as exc:
        logger.warning("stale TAP operation %s: Graph check failed (%s)", operation.pk, exc.code)
        return operation  # stays RUNNING; the next sweep looks again
    if found is not None:
        uncertain = executors.uncertain_tap(found)  # type: ignore[arg-type]
        return ledger.needs_review(
            operation, code=uncertain.code, message=uncertain.message, result=uncertain.result
        )
    return _release(
        operation,
        reason="The worker stopped before any pass was created (checked in Graph); issuing.",
    )


def wipe_expired_secrets(*, now: dt.datetime | None = None) -> int:
    """A TAP nobody collected is useless after its lifetime: its ciphertext goes too."""
    now = now or timezone.now()
    return (
        GraphOperation.objects.filter(
            kind=Kind.ISSUE_TAP, secret_revealed_at__isnull=True, secret_expires_at__lt=now
        )
        .exclude(secret_ciphertext="")
        .update(secret_ciphertext="", updated_at=now)
    )


def retry_exclusion_removals(*, now: dt.datetime | None = None) -> int:
    """A failed REMOVE_CA_EXCLUSION leaves someone outside MFA policies: try again, forever,
    until it succeeds or a person removes the membership (the removal then succeeds as a
    no-op)."""
    now = now or timezone.now()
    failed = GraphOperation.objects.filter(
        kind=Kind.REMOVE_CA_EXCLUSION,
        status=OpStatus.FAILED,
        finished_at__lt=now - REMOVAL_RETRY_AFTER,
    )
    count = 0
    for operation in failed[:100]:
        count += _requeue_removal(operation, now=now)
    return count


@transaction.atomic
def _requeue_removal(operation: GraphOperation, *, now: dt.datetime) -> int:
    moved = GraphOperation.objects.filter(pk=operation.pk, status=OpStatus.FAILED).update(
        status=OpStatus.PENDING, attempts=0, not_before=None, finished_at=None, updated_at=now
    )
    if not moved:
        return 0
    logger.warning(
        "retrying the removal of CA exclusion %s (%s)", operation.pk, operation.error_code
    )
    log.record(
        Action.GRAPH_RETRY,
        actor=log.SYSTEM,
        on_behalf_of=operation.requested_by,
        ticket_ref=operation.correlation[:32],
        subject=operation.target_upn,
        reason="automatic: a Conditional Access exclusion must not outlive its window",
        data={"operation_id": str(operation.pk), "kind": operation.kind, "from": "failed"},
    )
    operation.refresh_from_db()
    dispatch.enqueue_after_commit(operation)
    return 1

"""Worker-side transitions of a GraphOperation. The only writer of ``GraphOperation.status``
besides ``operations.retry`` and ``repairs``.

Every transition is a compare-and-swap on the status and writes its audit event in the same
transaction. A finishing one (SUCCEEDED, FAILED, NEEDS_REVIEW) commits the row as owed an
announcement and has it announced after commit (``announcements``; the beat sweep covers a
process that dies first). The ledger never enqueues: a transition back to PENDING returns the
row, and its caller (``runner``, ``repairs``) sends it with ``dispatch.enqueue_after_commit``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from audit import actions, log
from audit.models import Outcome
from graphops import announcements, sealing
from graphops.models import GraphOperation, Kind, OpStatus


@dataclass(frozen=True)
class Success:
    """What an executor hands back. ``secret`` is sealed before it touches the database."""

    result: dict[str, Any]
    request_ids: list[str] = field(default_factory=list)
    secret: str | None = field(default=None, repr=False)
    secret_expires_at: dt.datetime | None = None
    target_user_id: str = ""


class TransitionLost(Exception):
    """The row was no longer in the expected status (another process moved it)."""


def claim(operation_id: str) -> GraphOperation | None:
    """PENDING → RUNNING for the one caller that wins; None for everyone else (duplicates,
    early deliveries before ``not_before``, rows already finished or unknown)."""
    now = timezone.now()
    claimed = (
        GraphOperation.objects.filter(pk=operation_id, status=OpStatus.PENDING)
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
        .update(status=OpStatus.RUNNING, started_at=now, attempts=F("attempts") + 1, updated_at=now)
    )
    if claimed != 1:
        return None
    return GraphOperation.objects.get(pk=operation_id)


def _move(
    operation: GraphOperation, *, to: str, from_: str = OpStatus.RUNNING, **fields: Any
) -> None:
    now = timezone.now()
    updated = GraphOperation.objects.filter(pk=operation.pk, status=from_).update(
        status=to, updated_at=now, **fields
    )
    if updated != 1:
        raise TransitionLost(f"Operation {operation.pk} is no longer {from_}.")
    operation.refresh_from_db()


def _audit(operation: GraphOperation, *, outcome: str, reason: str = "") -> None:
    data: dict[str, Any] = {
        "operation_id": str(operation.pk),
        "kind": operation.kind,
        "status": operation.status,
        "attempts": operation.attempts,
        "graph_request_ids": operation.graph_request_ids[-5:],
    }
    if operation.error_code:
        data["error_code"] = operation.error_code
    if "is_privileged" in operation.result:
        data["privileged"] = bool(operation.result["is_privileged"])
    log.record(
        actions.graph_action(operation.kind),
        actor=log.SYSTEM,
        on_behalf_of=operation.requested_by,
        ticket_ref=operation.correlation[:32],
        subject=operation.target_upn,
        reason=reason,
        outcome=outcome,
        data=data,
    )


def _finish(
    operation: GraphOperation, *, to: str, from_: str = OpStatus.RUNNING, **fields: Any
) -> None:
    """Into a finished state, owed an announcement (again, if the row finished before)."""
    _move(
        operation,
        to=to,
        from_=from_,
        finished_at=timezone.now(),
        announced_at=None,
        announce_failures=0,
        announce_retry_at=None,
        **fields,
    )
    announcements.after_commit(operation)


@transaction.atomic
def succeed(operation: GraphOperation, *, success: Success) -> GraphOperation:
    """RUNNING → SUCCEEDED, with the result (and the sealed secret, for a TAP)."""
    fields: dict[str, Any] = {
        "result": success.result,
        "graph_request_ids": operation.graph_request_ids + success.request_ids,
        "error_code": "",
        "error_message": "",
        "retryable": False,
    }
    if success.target_user_id:
        fields["target_user_id"] = success.target_user_id
    if success.secret is not None:
        fields["secret_ciphertext"] = sealing.seal(success.secret)
        fields["secret_expires_at"] = success.secret_expires_at
    _finish(operation, to=OpStatus.SUCCEEDED, **fields)
    _audit(operation, outcome=Outcome.SUCCESS)
    return operation


@transaction.atomic
def fail(
    operation: GraphOperation,
    *,
    code: str,
    message: str,
    retryable: bool = False,
    request_ids: list[str] | None = None,
    result: dict[str, Any] | None = None,
) -> GraphOperation:
    """RUNNING → FAILED with a reason a person can act on (and what was done before it)."""
    extra: dict[str, Any] = {"result": result} if result is not None else {}
    _finish(
        operation,
        **extra,
        to=OpStatus.FAILED,
        error_code=code[:64],
        error_message=message,
        retryable=retryable,
        graph_request_ids=operation.graph_request_ids + (request_ids or []),
    )
    _audit(operation, outcome=Outcome.FAILURE, reason=message)
    return operation


@transaction.atomic
def needs_review(
    operation: GraphOperation,
    *,
    code: str,
    message: str,
    result: dict[str, Any] | None = None,
    from_: str = OpStatus.RUNNING,
) -> GraphOperation:
    """→ NEEDS_REVIEW: what happened at Graph is uncertain or needs a person's decision."""
    fields: dict[str, Any] = {"result": result} if result is not None else {}
    _finish(
        operation,
        from_=from_,
        to=OpStatus.NEEDS_REVIEW,
        error_code=code[:64],
        error_message=message,
        retryable=False,
        **fields,
    )
    _audit(operation, outcome=Outcome.FAILURE, reason=message)
    return operation


@transaction.atomic
def postpone(
    operation: GraphOperation,
    *,
    delay_seconds: float,
    code: str,
    message: str,
    request_ids: list[str] | None = None,
) -> GraphOperation:
    """RUNNING → PENDING after a transient failure, due again in ``delay_seconds`` (Graph's
    Retry-After). Past GRAPH_MAX_ATTEMPTS the row fails instead (retryable by a person).
    The caller sends a PENDING row again (``dispatch.enqueue_after_commit``)."""
    if operation.attempts >= settings.GRAPH_MAX_ATTEMPTS:
        return fail(
            operation,
            code=code,
            message=f"{message} (gave up after {operation.attempts} attempts)",
            retryable=True,
            request_ids=request_ids,
        )
    delay = max(1.0, min(delay_seconds, float(settings.GRAPH_MAX_RETRY_AFTER_SECONDS)))
    _move(
        operation,
        to=OpStatus.PENDING,
        not_before=timezone.now() + dt.timedelta(seconds=delay),
        error_code=code[:64],
        error_message=message,
        retryable=True,
        graph_request_ids=operation.graph_request_ids + (request_ids or []),
    )
    return operation


@transaction.atomic
def release(operation: GraphOperation, *, reason: str) -> GraphOperation:
    """A stale RUNNING row whose call is safe to repeat goes back to PENDING, due now. The
    caller sends it again (``dispatch.enqueue_after_commit``)."""
    _move(operation, to=OpStatus.PENDING, not_before=None, error_message=reason, retryable=True)
    return operation


def is_repeatable(kind: str) -> bool:
    """Whether a call of this kind can be repeated blindly after a crash (reads, idempotent
    writes). Creating a TAP cannot: a second POST silently replaces the first pass."""
    return kind != Kind.ISSUE_TAP

"""Runs one operation: claim, call Graph through the executor of its kind, record the outcome in
the ledger, and send the row again when the ledger put it back to PENDING (a transient failure).
"""

from __future__ import annotations

import logging

from django.db import transaction

from graphops import dispatch, errors, executors, ledger
from graphops.models import GraphOperation, OpStatus

logger = logging.getLogger(__name__)


def run(operation_id: str) -> None:
    """Claim the row and carry it out. A row someone else claimed (or not due yet) is left alone."""
    operation = ledger.claim(operation_id)
    if operation is None:
        logger.info(
            "graph operation %s not claimable (duplicate, not due or finished)", operation_id
        )
        return
    try:
        _carry_out(operation)
    except ledger.TransitionLost:
        logger.warning("graph operation %s was moved by another process meanwhile", operation_id)


def _carry_out(operation: GraphOperation) -> None:
    try:
        success = executors.execute(operation)
    except errors.Transient as exc:
        _postpone(operation, exc)
    except errors.Uncertain as exc:
        ledger.needs_review(operation, code=exc.code, message=exc.message, result=exc.result)
    except errors.Permanent as exc:
        ledger.fail(
            operation,
            code=exc.code,
            message=exc.message,
            retryable=exc.retryable,
            request_ids=exc.request_ids,
            result=exc.result,
        )
    except Exception as exc:  # a bug or an unforeseen library error: never leave it RUNNING
        logger.exception("graph operation %s crashed", operation.pk)
        _record_crash(operation, exc)
    else:
        ledger.succeed(operation, success=success)


@transaction.atomic
def _postpone(operation: GraphOperation, exc: errors.Transient) -> None:
    operation = ledger.postpone(
        operation,
        delay_seconds=exc.retry_after,
        code=exc.code,
        message=exc.message,
        request_ids=exc.request_ids,
    )
    if operation.status == OpStatus.PENDING:  # not given up after too many attempts
        dispatch.enqueue_after_commit(operation)


def _record_crash(operation: GraphOperation, exc: Exception) -> None:
    message = f"Unexpected error ({type(exc).__name__}); see the worker log."
    if ledger.is_repeatable(operation.kind):
        ledger.fail(operation, code="internal_error", message=message, retryable=True)
    else:
        ledger.needs_review(operation, code="internal_error", message=message)

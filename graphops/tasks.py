"""Celery tasks: one per operation kind, generated from ``Kind`` and named ``graphops.<kind>``
(the names messages already in the broker carry), plus the beat tasks.

An operation task carries only the row's id and hands it to ``runner.run``, which claims the row
(PENDING → RUNNING) and only then calls Graph: a duplicate delivery, or a delivery before
``not_before``, is a no-op, which makes ``acks_late`` safe. No task returns anything (no result
backend holds a value). No production module imports this one (Celery's autodiscovery does):
operations are sent by name (``dispatch``).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from graphops import announcements, dispatch, repairs, runner
from graphops.models import Kind


def _operation_task(kind: Kind) -> Any:
    def carry_out(operation_id: str) -> None:
        runner.run(operation_id)

    carry_out.__name__ = carry_out.__qualname__ = kind.value
    carry_out.__doc__ = f"Carry out one {kind.value} operation (the ledger row's id)."
    return shared_task(name=dispatch.task_name(kind), ignore_result=True)(carry_out)


OPERATION_TASKS: dict[Kind, Any] = {kind: _operation_task(kind) for kind in Kind}


# --- Beat tasks (schedules and their reasons: recovery_portal/celery.py) -------------------------


@shared_task(name="graphops.send_due", ignore_result=True)
def send_due() -> None:
    dispatch.send_due()


@shared_task(name="graphops.recover_stale", ignore_result=True)
def recover_stale() -> None:
    repairs.recover_stale()


@shared_task(name="graphops.retry_exclusion_removals", ignore_result=True)
def retry_exclusion_removals() -> None:
    repairs.retry_exclusion_removals()


@shared_task(name="graphops.wipe_expired_secrets", ignore_result=True)
def wipe_expired_secrets() -> None:
    repairs.wipe_expired_secrets()


@shared_task(name="graphops.announce_unannounced", ignore_result=True)
def announce_unannounced() -> None:
    announcements.announce_unannounced()

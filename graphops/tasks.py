"""Celery tasks: one thin task per operation kind, named after it, carrying only the row's id.

Each one hands the id to ``runner.run``, which claims the row (PENDING → RUNNING) and only then
calls Graph: a duplicate delivery, or a delivery before ``not_before``, is a no-op, which makes
``acks_late`` safe. No task returns anything (no result backend holds a value).
"""

from __future__ import annotations

from celery import Task, shared_task

from graphops import runner
from graphops.models import Kind


@shared_task(name="graphops.directory_lookup", ignore_result=True)
def directory_lookup(operation_id: str) -> None:
    runner.run(operation_id)


@shared_task(name="graphops.lookup_user", ignore_result=True)
def lookup_user(operation_id: str) -> None:
    runner.run(operation_id)


@shared_task(name="graphops.get_manager", ignore_result=True)
def get_manager(operation_id: str) -> None:
    runner.run(operation_id)


@shared_task(name="graphops.check_privileged", ignore_result=True)
def check_privileged(operation_id: str) -> None:
    runner.run(operation_id)


@shared_task(name="graphops.list_methods", ignore_result=True)
def list_methods(operation_id: str) -> None:
    runner.run(operation_id)


@shared_task(name="graphops.issue_tap", ignore_result=True)
def issue_tap(operation_id: str) -> None:
    runner.run(operation_id)


@shared_task(name="graphops.delete_methods", ignore_result=True)
def delete_methods(operation_id: str) -> None:
    runner.run(operation_id)


@shared_task(name="graphops.require_reregistration", ignore_result=True)
def require_reregistration(operation_id: str) -> None:
    runner.run(operation_id)


@shared_task(name="graphops.revoke_sessions", ignore_result=True)
def revoke_sessions(operation_id: str) -> None:
    runner.run(operation_id)


@shared_task(name="graphops.add_ca_exclusion", ignore_result=True)
def add_ca_exclusion(operation_id: str) -> None:
    runner.run(operation_id)


@shared_task(name="graphops.remove_ca_exclusion", ignore_result=True)
def remove_ca_exclusion(operation_id: str) -> None:
    runner.run(operation_id)


@shared_task(name="graphops.read_tap_policy", ignore_result=True)
def read_tap_policy(operation_id: str) -> None:
    runner.run(operation_id)


@shared_task(name="graphops.check_new_methods", ignore_result=True)
def check_new_methods(operation_id: str) -> None:
    runner.run(operation_id)


TASKS: dict[str, Task] = {
    Kind.DIRECTORY_LOOKUP: directory_lookup,
    Kind.LOOKUP_USER: lookup_user,
    Kind.GET_MANAGER: get_manager,
    Kind.CHECK_PRIVILEGED: check_privileged,
    Kind.LIST_METHODS: list_methods,
    Kind.ISSUE_TAP: issue_tap,
    Kind.DELETE_METHODS: delete_methods,
    Kind.REQUIRE_REREGISTRATION: require_reregistration,
    Kind.REVOKE_SESSIONS: revoke_sessions,
    Kind.ADD_CA_EXCLUSION: add_ca_exclusion,
    Kind.REMOVE_CA_EXCLUSION: remove_ca_exclusion,
    Kind.READ_TAP_POLICY: read_tap_policy,
    Kind.CHECK_NEW_METHODS: check_new_methods,
}


# --- Beat tasks (schedules and their reasons: recovery_portal/celery.py) -------------------------


@shared_task(name="graphops.send_due", ignore_result=True)
def send_due() -> None:
    from graphops import dispatch

    dispatch.send_due()


@shared_task(name="graphops.recover_stale", ignore_result=True)
def recover_stale() -> None:
    from graphops import recovery

    recovery.recover_stale()


@shared_task(name="graphops.retry_exclusion_removals", ignore_result=True)
def retry_exclusion_removals() -> None:
    from graphops import recovery

    recovery.retry_exclusion_removals()


@shared_task(name="graphops.wipe_expired_secrets", ignore_result=True)
def wipe_expired_secrets() -> None:
    from graphops import recovery

    recovery.wipe_expired_secrets()

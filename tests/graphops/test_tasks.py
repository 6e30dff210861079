"""One kind, one executor, one task: the tasks are generated from ``Kind`` under the names
messages in the broker carry, executors register themselves, and dispatch sends by name."""

from __future__ import annotations

import json

import pytest
import redis
from django.conf import settings

from graphops import dispatch, executors, operations, tasks
from graphops.models import Kind
from recovery_portal.celery import app

pytestmark = pytest.mark.django_db

OPERATION_TASK_NAMES = {
    "graphops.directory_lookup",
    "graphops.lookup_user",
    "graphops.get_manager",
    "graphops.check_privileged",
    "graphops.list_methods",
    "graphops.issue_tap",
    "graphops.delete_methods",
    "graphops.require_reregistration",
    "graphops.revoke_sessions",
    "graphops.add_ca_exclusion",
    "graphops.remove_ca_exclusion",
    "graphops.read_tap_policy",
    "graphops.check_new_methods",
}
BEAT_TASK_NAMES = {
    "graphops.send_due",
    "graphops.recover_stale",
    "graphops.retry_exclusion_removals",
    "graphops.wipe_expired_secrets",
    "graphops.announce_unannounced",
}


def test_every_kind_has_exactly_one_executor() -> None:
    assert set(executors.EXECUTORS) == set(Kind)
    assert len(set(executors.EXECUTORS.values())) == len(Kind)


def test_a_second_executor_for_a_kind_is_refused() -> None:
    # given the registered executor of a kind
    registered = executors.EXECUTORS[Kind.REVOKE_SESSIONS]
    # when another one registers for it / then it is refused and the first stays
    with pytest.raises(executors.DuplicateExecutor):
        executors.executes(Kind.REVOKE_SESSIONS)(registered)
    assert executors.EXECUTORS[Kind.REVOKE_SESSIONS] is registered


def test_every_kind_has_one_task_under_the_name_messages_carry() -> None:
    # then the names of the tasks in flight before the tasks were generated still resolve
    assert {dispatch.task_name(kind) for kind in Kind} == OPERATION_TASK_NAMES
    registered = {name for name in app.tasks if name.startswith("graphops.")}
    assert registered == OPERATION_TASK_NAMES | BEAT_TASK_NAMES
    for kind, task in tasks.OPERATION_TASKS.items():
        assert task.name == dispatch.task_name(kind) == app.tasks[task.name].name
        assert app.tasks[task.name].ignore_result is True


def test_every_beat_task_of_graphops_is_scheduled() -> None:
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert scheduled >= BEAT_TASK_NAMES


def test_request_operation_sends_the_task_by_its_kind_name(
    django_capture_on_commit_callbacks,
) -> None:  # type: ignore[no-untyped-def]
    # given an empty queue
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("celery")
    # when an operation is recorded and its transaction commits
    with django_capture_on_commit_callbacks(execute=True):
        operation = operations.request_operation(
            Kind.REVOKE_SESSIONS, target_upn="mario.rossi@contoso.example"
        )
    # then the broker holds one message for graphops.revoke_sessions carrying the id only
    headers = [json.loads(raw)["headers"] for raw in broker.lrange("celery", 0, -1)]
    assert [(h["task"], h["argsrepr"]) for h in headers] == [
        ("graphops.revoke_sessions", repr((str(operation.pk),)))
    ]

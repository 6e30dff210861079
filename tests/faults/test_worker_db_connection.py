"""The worker keeps its PostgreSQL connection between tasks (Celery's Django fixup would open a
new backend for every task), and still gets through a PostgreSQL restart: the broken
connection is dropped before the next task, as Django does before each request."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from graphops import operations
from graphops.models import Kind, OpStatus
from tests.faults.conftest import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

UPN = "mario.rossi@contoso.example"


def backends(app_name: str) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [app_name])
        return {row[0] for row in cursor.fetchall()}


def looked_up(operation):  # type: ignore[no-untyped-def]
    def done() -> bool:
        operation.refresh_from_db()
        return operation.status in (OpStatus.SUCCEEDED, OpStatus.FAILED)

    wait_until(done, what=f"lookup {operation.pk}", timeout=60)
    return operation


def test_worker_reuses_its_database_connection_and_survives_a_restart(
    start_worker, services
) -> None:  # type: ignore[no-untyped-def]
    # given a worker as deployed (persistent connections), named in pg_stat_activity
    app_name = f"rp-worker-{uuid.uuid4().hex[:8]}"
    start_worker(DB_CONN_MAX_AGE="60", PGAPPNAME=app_name)
    # when it runs two operations one after the other
    first = looked_up(operations.request_operation(Kind.LOOKUP_USER, target_upn=UPN))
    after_first = backends(app_name)
    second = looked_up(operations.request_operation(Kind.LOOKUP_USER, target_upn=UPN))
    # then both succeed on one and the same PostgreSQL backend, kept open between them
    assert first.status == second.status == OpStatus.SUCCEEDED
    assert len(after_first) == 1
    assert backends(app_name) == after_first
    # when PostgreSQL restarts under it (its connection is now dead)
    services.stop_postgres()
    services.start_postgres()
    # then the next operation succeeds on a new backend, without restarting the worker
    third = looked_up(operations.request_operation(Kind.LOOKUP_USER, target_upn=UPN))
    assert third.status == OpStatus.SUCCEEDED, third.error_message
    assert backends(app_name) and backends(app_name) != after_first

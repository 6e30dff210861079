"""recovery_portal.celery: what a worker does once it is up."""

from __future__ import annotations

from audit.models import AuditEvent
from tests.fixtures_graph import Worker, _wait_for


def _recorded_by(process: str) -> list[AuditEvent]:
    events = AuditEvent.objects.filter(action="config.changed", data__process=process)
    return list(events)


def test_worker_records_its_recovery_policy_when_it_is_ready(celery_worker: Worker) -> None:
    # given a real worker started on the test database (fixture)
    # when it is ready
    _wait_for(lambda: bool(_recorded_by("worker")), what="the worker's policy record", timeout=30)
    # then its policy is on the record, once
    [event] = _recorded_by("worker")
    assert event.data["scope"] == "recovery_policy" and event.data["changed"] == []

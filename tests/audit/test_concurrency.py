"""Concurrent writers, each on its own PostgreSQL connection, still make one chain."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from audit import log
from audit.actions import Action
from audit.models import AuditEvent
from audit.verify import verify_chain

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS = 8
EVENTS_EACH = 25


def _writer(n: int, start: threading.Barrier, errors: list[BaseException]) -> None:
    try:
        start.wait()
        for i in range(EVENTS_EACH):
            # Each inside its own transaction, as a workflow transition would be.
            with transaction.atomic():
                log.record(Action.TICKET_CLAIMED, ticket_ref=f"RP-W{n}", data={"i": i})
    except BaseException as exc:  # noqa: BLE001 - handed to the main thread
        errors.append(exc)
    finally:
        connection.close()


def test_concurrent_writers_keep_one_chain() -> None:
    # given writers released at the same instant
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []
    threads = [threading.Thread(target=_writer, args=(n, start, errors)) for n in range(WRITERS)]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then every event landed, in one unbroken chain (no two share a predecessor)
    assert errors == []
    assert AuditEvent.objects.count() == WRITERS * EVENTS_EACH
    report = verify_chain()
    assert report.ok, report.broken
    assert report.checked == WRITERS * EVENTS_EACH
    prevs = list(AuditEvent.objects.values_list("prev_hash", flat=True))
    assert len(set(prevs)) == len(prevs)

"""Helpers for the audit tests: events written the way the other modules write them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection

from audit import log
from audit.models import AuditEvent


@pytest.fixture
def tamper() -> Callable[[str, list[object]], None]:
    """Run SQL with the table's triggers off, as a database administrator could."""

    def run(sql: str, params: list[object]) -> None:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
            cursor.execute(sql, params)
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")

    return run


@pytest.fixture
def some_events(db) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    return [
        log.record(
            "ticket.submitted",
            ticket_ref=f"RP-{n:04d}",
            subject=f"user{n}@contoso.example",
            reason="Phone lost",
            data={"what_happened": "lost", "n": n},
        )
        for n in range(5)
    ]

"""Helpers for the audit tests: events written the way the other modules write them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection

from audit import log
from audit.models import AuditEvent


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):  # type: ignore[no-untyped-def]
    # The cast's passwords are hashed once per test; PBKDF2's deliberate slowness buys nothing
    # here and costs seconds.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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


@pytest.fixture
def completed_case(db, agent, approver):  # type: ignore[no-untyped-def]
    """A case from request to restored access, written the way tickets and graphops write it."""
    ref = "RP-DONE01"
    upn = "mario.rossi@contoso.example"
    log.record(
        "ticket.submitted",
        ticket_ref=ref,
        subject=upn,
        reason="Phone stolen on the train",
        personal={"full_name": "Mario Rossi"},
        data={"what_happened": "stolen", "urgency": "high"},
    )
    log.record("ticket.directory_checked", ticket_ref=ref, subject=upn, data={"privileged": False})
    log.record("ticket.claimed", actor=agent, ticket_ref=ref, subject=upn)
    log.record(
        "ticket.identity_verified",
        actor=agent,
        ticket_ref=ref,
        subject=upn,
        data={"method": "video"},
    )
    log.record(
        "ticket.manager_confirmed",
        ticket_ref=ref,
        subject=upn,
        personal={"manager": "anna.bianchi@contoso.example"},
    )
    log.record("ticket.approved", actor=approver, ticket_ref=ref, subject=upn)
    log.record(
        "graph.requested",
        actor=approver,
        ticket_ref=ref,
        subject=upn,
        data={"operation_id": "41", "kind": "issue_tap"},
    )
    log.record(
        "graph.issue_tap",
        actor=approver,
        ticket_ref=ref,
        subject=upn,
        data={
            "operation_id": "41",
            "kind": "issue_tap",
            "status": "succeeded",
            "attempts": 1,
            "graph_request_ids": ["5b0c7a52-1111-4222-8333-444455556666"],
        },
    )
    log.record("graph.tap_revealed", ticket_ref=ref, subject=upn, data={"operation_id": "41"})
    log.record("ticket.restored", ticket_ref=ref, subject=upn)
    return ref

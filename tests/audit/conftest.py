"""Helpers for the audit tests: events written the way the other modules write them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection

from audit import log
from audit.actions import Action
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
            Action.TICKET_SUBMITTED,
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
        Action.TICKET_SUBMITTED,
        actor=log.PUBLIC,
        ticket_ref=ref,
        subject=upn,
        reason="Phone stolen on the train",
        personal={"full_name": "Mario Rossi"},
        data={"what_happened": "stolen", "urgency": "high"},
    )
    log.record(Action.DIRECTORY_CHECKED, ticket_ref=ref, subject=upn, data={"privileged": False})
    log.record(Action.TICKET_CLAIMED, actor=agent, ticket_ref=ref, subject=upn)
    log.record(
        Action.IDENTITY_VERIFIED,
        actor=agent,
        ticket_ref=ref,
        subject=upn,
        data={"method": "video"},
    )
    log.record(
        Action.MANAGER_CONFIRMED,
        actor=log.PUBLIC,
        ticket_ref=ref,
        subject=upn,
        personal={"manager": "anna.bianchi@contoso.example"},
    )
    log.record(Action.TICKET_APPROVED, actor=approver, ticket_ref=ref, subject=upn)
    log.record(
        Action.GRAPH_REQUESTED,
        actor=approver,
        ticket_ref=ref,
        subject=upn,
        data={"operation_id": "41", "kind": "issue_tap"},
    )
    log.record(
        Action.GRAPH_ISSUE_TAP,
        actor=log.SYSTEM,
        on_behalf_of=approver,
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
    log.record(
        Action.GRAPH_TAP_REVEALED,
        actor=log.PUBLIC,
        ticket_ref=ref,
        subject=upn,
        data={"operation_id": "41"},
    )
    log.record(Action.TICKET_RESTORED, ticket_ref=ref, subject=upn)
    return ref

"""The database refuses to change or remove an event, whoever asks."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.utils import timezone

from audit.models import AuditAnchor, AuditEvent

pytestmark = pytest.mark.django_db


def _refused(sql: str, params: list[object]) -> None:
    with (
        pytest.raises(DatabaseError, match="pgtrigger"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)


def test_orm_update_of_an_event_is_refused(some_events) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=some_events[0].pk).update(action="ticket.approved")


def test_orm_save_of_a_changed_event_is_refused(some_events) -> None:  # type: ignore[no-untyped-def]
    event = some_events[1]
    event.reason = "edited"
    with pytest.raises(DatabaseError), transaction.atomic():
        event.save()


def test_orm_delete_of_an_event_is_refused(some_events) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=some_events[2].pk).delete()
    assert AuditEvent.objects.count() == 5


@pytest.mark.parametrize(
    "assignment",
    [
        "action = 'ticket.approved'",
        "hash = repeat('0', 64)",
        "data = '{}'::jsonb",
        "created_at = now()",
        "actor_label = 'someone'",
        "actor_kind = 'person'",
        "on_behalf_of_id = 1",
        "on_behalf_of_label = 'someone'",
        "subject = 'someone.else@contoso.example'",
        "reason = ''",
        "redacted_at = now()",  # a "redaction" that leaves the values in place
    ],
)
def test_raw_sql_update_of_an_event_is_refused(some_events, assignment) -> None:  # type: ignore[no-untyped-def]
    _refused(f"UPDATE audit_auditevent SET {assignment} WHERE id = %s", [some_events[0].pk])  # noqa: S608


def test_raw_sql_delete_of_events_is_refused(some_events) -> None:  # type: ignore[no-untyped-def]
    _refused("DELETE FROM audit_auditevent", [])
    assert AuditEvent.objects.count() == 5


def test_the_only_update_allowed_blanks_personal_values_once(some_events) -> None:  # type: ignore[no-untyped-def]
    # given
    pk = some_events[3].pk
    blank = (
        "UPDATE audit_auditevent SET subject = '', reason = '', ip = '', user_agent = '', "
        "personal = '{}'::jsonb, pii_salt = '', redacted_at = now() WHERE id = %s"
    )
    # when the purge's redaction runs
    with connection.cursor() as cursor:
        cursor.execute(blank, [pk])
    # then it took, and the row can change no more — not even by a second redaction
    assert AuditEvent.objects.get(pk=pk).subject == ""
    _refused(blank, [pk])
    _refused("UPDATE audit_auditevent SET subject = 'back' WHERE id = %s", [pk])


def test_anchors_are_append_only_too(db) -> None:  # type: ignore[no-untyped-def]
    anchor = AuditAnchor.objects.create(
        created_at=timezone.now(), event_id=1, event_hash="a" * 64, event_count=1
    )
    _refused("UPDATE audit_auditanchor SET event_hash = %s", ["b" * 64])
    _refused("DELETE FROM audit_auditanchor WHERE id = %s", [anchor.pk])

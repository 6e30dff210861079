"""audit_verify: the first broken link, exactly; a rewritten table through the published heads."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from audit import chain, log
from audit.actions import Action
from audit.models import AuditAnchor, AuditEvent
from audit.verify import verify_chain

pytestmark = pytest.mark.django_db


def _verify(*args: str) -> str:
    out = StringIO()
    call_command("audit_verify", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_audit_verify_passes_an_intact_chain(some_events) -> None:  # type: ignore[no-untyped-def]
    output = _verify()
    assert "audit chain OK: 5 events" in output
    assert some_events[-1].hash in output


def test_audit_verify_passes_an_empty_trail(db) -> None:  # type: ignore[no-untyped-def]
    assert "audit chain OK: 0 events" in _verify()


def test_audit_verify_fails_at_exactly_the_changed_event(some_events, tamper) -> None:  # type: ignore[no-untyped-def]
    # given the third event's action edited with the trigger off
    target = some_events[2].pk
    tamper("UPDATE audit_auditevent SET action = 'ticket.rejected' WHERE id = %s", [target])
    # when / then
    with pytest.raises(CommandError, match=rf"BROKEN at event #{target}: its content") as exc:
        _verify()
    assert exc.value.returncode == 1
    assert "2 events before it are intact" in str(exc.value)


def test_audit_verify_fails_at_a_changed_personal_value(some_events, tamper) -> None:  # type: ignore[no-untyped-def]
    target = some_events[1].pk
    tamper(
        "UPDATE audit_auditevent SET subject = 'someone.else@contoso.example' WHERE id = %s",
        [target],
    )
    with pytest.raises(CommandError, match=rf"#{target}: its personal data does not match"):
        _verify()


def test_audit_verify_fails_after_a_removed_event(some_events, tamper) -> None:  # type: ignore[no-untyped-def]
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [some_events[1].pk])
    with pytest.raises(CommandError, match=rf"#{some_events[2].pk}: prev_hash"):
        _verify()


def test_audit_verify_fails_on_a_redaction_no_purge_recorded(some_events, tamper) -> None:  # type: ignore[no-untyped-def]
    # given personal values blanked by hand, not by the purge (the trigger allows the shape)
    target = some_events[4].pk
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET subject = '', reason = '', personal = '{}', "
            "pii_salt = '', redacted_at = now() WHERE id = %s",
            [target],
        )
    # when / then
    with pytest.raises(CommandError, match=rf"#{target}: .*no recorded purge covers it"):
        _verify()


def test_audit_verify_detects_a_whole_table_rewrite_through_the_published_head(
    some_events, tamper
) -> None:  # type: ignore[no-untyped-def]
    # given a published head, then every row rewritten into a new, self-consistent chain
    head = some_events[-1]
    external = f"{head.pk}:{head.hash}"
    prev = chain.GENESIS_HASH
    for event in AuditEvent.objects.order_by("id"):
        event.reason = "rewritten"
        event.pii_commitment = chain.event_commitment(event)
        event.prev_hash = prev
        event.hash = chain.event_hash(event)
        prev = event.hash
        tamper(
            "UPDATE audit_auditevent SET reason = %s, pii_commitment = %s, prev_hash = %s, "
            "hash = %s WHERE id = %s",
            [event.reason, event.pii_commitment, "x" + str(event.pk), event.hash, event.pk],
        )
        tamper(
            "UPDATE audit_auditevent SET prev_hash = %s WHERE id = %s", [event.prev_hash, event.pk]
        )
    # when / then the chain alone looks fine, but the head kept outside the database does not
    assert verify_chain().ok
    with pytest.raises(CommandError, match=rf"#{head.pk}: its hash differs from the published"):
        _verify("--anchor", external)


def test_audit_verify_checks_stored_anchors(some_events, tamper) -> None:  # type: ignore[no-untyped-def]
    # given a stored anchor at the head, then the head removed
    head = some_events[-1]
    AuditAnchor.objects.create(
        created_at=timezone.now(), event_id=head.pk, event_hash=head.hash, event_count=5
    )
    assert "1 published heads matched" in _verify()
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [head.pk])
    # when / then
    with pytest.raises(CommandError, match=rf"#{head.pk}: a published chain head is missing"):
        _verify()


def test_audit_verify_rejects_a_malformed_anchor(db) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError, match="ID:SHA256_HEX"):
        _verify("--anchor", "12:nothex")


def test_verify_chain_reads_only(some_events, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    # a few queries whatever the size: the rows come through one server-side cursor
    log.record(Action.TICKET_CLOSED, ticket_ref="RP-0001")
    with django_assert_max_num_queries(12):
        report = verify_chain()
    assert report.ok and report.checked == 6

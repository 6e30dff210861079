"""audit_verify: the first broken link, exactly; a rewritten table through the published heads."""

from __future__ import annotations

import hashlib
import json
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


# --- events written before the actor kind (rp-audit/1) --------------------------------------


def _legacy_event(prev_hash: str, n: int) -> AuditEvent:
    """An event exactly as the code before rp-audit/2 wrote it: no actor kind, the first form."""
    created_at = timezone.now()
    data_text, personal_text = chain.jsonb_texts({"n": n}, {})
    salt = f"{n:032d}"
    pii = json.dumps([f"user{n}@contoso.example", "", "", "", personal_text], separators=(",", ":"))
    commitment = hashlib.sha256(f"{salt}\n{pii}".encode()).hexdigest()
    content = ["rp-audit/1", chain.iso(created_at), "ticket.claimed", "success", 7, "agent"]
    content += ["agent", f"RP-L{n}", data_text, commitment]
    body = json.dumps(content, separators=(",", ":"))
    event = AuditEvent(
        created_at=created_at,
        action="ticket.claimed",
        actor_id=7,
        actor_label="agent",
        actor_roles="agent",
        ticket_ref=f"RP-L{n}",
        data={"n": n},
        subject=f"user{n}@contoso.example",
        pii_salt=salt,
        pii_commitment=commitment,
        prev_hash=prev_hash,
        hash=hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest(),
    )
    event.save(force_insert=True)
    return event


@pytest.fixture
def legacy_then_new(db, approver) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    """Three events from before the actor kind, then new ones of every kind."""
    events = [_legacy_event(chain.GENESIS_HASH, 0)]
    for n in (1, 2):
        events.append(_legacy_event(events[-1].hash, n))
    events.append(log.record(Action.TICKET_APPROVED, actor=approver, ticket_ref="RP-N"))
    system = {"actor": log.SYSTEM, "on_behalf_of": approver}
    events.append(log.record(Action.GRAPH_ISSUE_TAP, **system, ticket_ref="RP-N"))
    events.append(log.record(Action.LINK_USED, actor=log.PUBLIC, ticket_ref="RP-N"))
    return events


def test_verify_accepts_events_from_before_the_actor_kind_and_after(legacy_then_new) -> None:  # type: ignore[no-untyped-def]
    # given (fixture) / when
    report = verify_chain()
    # then both forms check, in one chain
    assert report.ok, report.broken
    assert report.checked == 6
    assert [e.actor_kind for e in AuditEvent.objects.order_by("id")] == [
        "", "", "", "person", "system", "public"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("index", "assignment"),
    [
        (4, "actor_kind = ''"),  # a system action passed off as written before the kind
        (4, "on_behalf_of_label = 'security'"),
        (4, "on_behalf_of_id = NULL"),
        (3, "actor_kind = 'system'"),  # a person's action passed off as the system's
        (1, "actor_kind = 'system'"),  # an old event given a kind
    ],
)
def test_verify_notices_a_changed_actor(legacy_then_new, tamper, index, assignment) -> None:  # type: ignore[no-untyped-def]
    # given one event's actor columns edited with the trigger off
    target = legacy_then_new[index].pk
    tamper(f"UPDATE audit_auditevent SET {assignment} WHERE id = %s", [target])  # noqa: S608
    # when / then the break is at exactly that event
    report = verify_chain()
    assert report.broken is not None and report.broken.event_id == target
    assert "does not match its hash" in report.broken.problem

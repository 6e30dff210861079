from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.test import RequestFactory

from audit import chain, log
from audit.actions import Action
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_record_chains_each_event_to_the_previous_one(some_events) -> None:  # type: ignore[no-untyped-def]
    # given five events (fixture)
    # when they are read back from the database
    events = list(AuditEvent.objects.order_by("id"))
    # then the first starts the chain, each next one points at its predecessor, hashes check
    assert events[0].prev_hash == chain.GENESIS_HASH
    for before, after in zip(events, events[1:], strict=False):
        assert after.prev_hash == before.hash
    for event in events:
        assert chain.event_hash(event) == event.hash
        assert chain.event_commitment(event) == event.pii_commitment


def test_record_keeps_personal_values_out_of_the_hashed_content(db) -> None:  # type: ignore[no-untyped-def]
    # given
    event = log.record(
        Action.TICKET_SUBMITTED,
        ticket_ref="RP-1",
        subject="mario.rossi@contoso.example",
        reason="Lost my phone on the train",
        personal={"manager": "anna.bianchi@contoso.example"},
    )
    # when
    body = chain.event_content(event)
    # then the hashed content names none of them, only their salted commitment
    assert "mario" not in body and "train" not in body and "anna" not in body
    assert event.pii_commitment in body
    assert len(event.pii_salt) == 32


def test_record_takes_actor_ip_and_user_agent_from_the_request(agent) -> None:  # type: ignore[no-untyped-def]
    # given
    request = RequestFactory().get("/", REMOTE_ADDR="10.1.2.3", HTTP_USER_AGENT="Firefox/1")
    request.user = agent
    # when
    event = log.record(Action.TICKET_CLAIMED, request=request, ticket_ref="RP-2")
    # then
    event.refresh_from_db()
    assert (event.actor_id, event.actor_label, event.actor_roles) == (
        agent.pk,
        "agent",
        "helpdesk_agent",
    )
    assert (event.ip, event.user_agent) == ("10.1.2.3", "Firefox/1")
    assert chain.event_hash(event) == event.hash


@pytest.mark.parametrize("key", ["tap", "TAP", "claim_code", "token", "password", "secret"])
def test_record_refuses_a_secret_looking_field(db, key) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(log.SecretInAuditEvent):
        log.record(Action.GRAPH_ISSUE_TAP, data={"operation_id": "1", "result": {key: "x"}})
    assert not AuditEvent.objects.exists()


def test_record_stores_data_in_a_form_that_reads_back_to_the_same_hash(db) -> None:  # type: ignore[no-untyped-def]
    # given values jsonb renders its own way (floats, tuples, odd keys, unicode, NaN, objects)
    event = log.record(
        Action.CONFIG_CHANGED,
        data={
            "ratio": 1e20,
            "pair": (1, 2),
            3: "three",
            "città": "Forlì ☃",
            "big": 2**70,
            "nan": float("nan"),
            "when": dt.date(2026, 1, 2),
        },
    )
    # when
    fresh = AuditEvent.objects.get(pk=event.pk)
    # then
    assert chain.event_hash(fresh) == event.hash
    assert fresh.data["3"] == "three" and fresh.data["when"] == "2026-01-02"
    assert fresh.data["nan"] == "nan" and fresh.data["pair"] == [1, 2]


def test_record_rolls_back_with_the_change_it_records(db) -> None:  # type: ignore[no-untyped-def]
    # given / when a transaction that records an event then fails
    with pytest.raises(RuntimeError), transaction.atomic():
        log.record(Action.TICKET_APPROVED, ticket_ref="RP-3")
        raise RuntimeError("the change failed")
    # then no event remains, and the next one still starts the chain
    assert not AuditEvent.objects.exists()
    assert log.record(Action.TICKET_APPROVED, ticket_ref="RP-3").prev_hash == chain.GENESIS_HASH


def test_siem_line_is_one_json_object_per_event_after_commit(
    db, caplog, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    # given
    caplog.set_level(logging.INFO, logger="audit.siem")
    # when
    with django_capture_on_commit_callbacks(execute=True):
        event = log.record(
            Action.TICKET_APPROVED, ticket_ref="RP-9", subject="u@contoso.example", data={"k": 1}
        )
    # then exactly one line, parseable, carrying the chain fields
    lines = [r.getMessage() for r in caplog.records if r.name == "audit.siem"]
    assert len(lines) == 1 and "\n" not in lines[0]
    payload = json.loads(lines[0])
    assert payload["type"] == "recovery_portal.audit"
    assert payload["id"] == event.pk and payload["action"] == "ticket.approved"
    assert payload["ticket"] == "RP-9" and payload["data"] == {"k": 1}
    assert payload["hash"] == event.hash and payload["prev_hash"] == event.prev_hash
    # and a SIEM can recompute the hash from the line alone, as docs/AUDIT.md tells it to
    assert payload["actor_kind"] == "system" and payload["on_behalf_of_id"] is None
    fields = [payload["time"], payload["action"], payload["outcome"], payload["actor_kind"]]
    fields += [payload["actor_id"], payload["actor"], payload["actor_roles"]]
    fields += [payload["on_behalf_of_id"], payload["on_behalf_of"], payload["ticket"]]
    content = ["rp-audit/2", *fields, payload["data_text"], payload["pii_commitment"]]
    body = json.dumps(content, separators=(",", ":"))
    digest = hashlib.sha256(f"{payload['prev_hash']}\n{body}".encode()).hexdigest()
    assert digest == payload["hash"]
    personal = [payload[k] for k in ("subject", "reason", "ip", "user_agent", "personal_text")]
    assert chain.commitment(payload["pii_salt"], *personal) == payload["pii_commitment"]


def test_siem_line_is_not_emitted_for_a_rolled_back_event(
    db, caplog, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, logger="audit.siem")
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        log.record(Action.TICKET_APPROVED, ticket_ref="RP-9")
        raise RuntimeError
    assert not [r for r in caplog.records if r.name == "audit.siem"]


def test_record_stores_text_postgresql_would_refuse_as_a_replacement_character(db) -> None:  # type: ignore[no-untyped-def]
    # given text from a hostile or broken client: a NUL and a lone surrogate
    event = log.record(
        Action.LINK_USED, subject="a\x00b", reason="x\udcffy", data={"k\x00": "v\ud800"}
    )
    # when
    fresh = AuditEvent.objects.get(pk=event.pk)
    # then the event exists, with U+FFFD in their place, and its hash checks
    assert (fresh.subject, fresh.reason) == ("a\ufffdb", "x\ufffdy")
    assert fresh.data == {"k\ufffd": "v\ufffd"}
    assert chain.event_hash(fresh) == event.hash


def test_record_takes_the_client_address_from_the_proxy_header_when_configured(
    settings,
) -> None:  # type: ignore[no-untyped-def]
    # given a portal behind a reverse proxy that passes the client's address in X-Real-IP
    settings.RATELIMIT_IP_META_KEY = "HTTP_X_REAL_IP"
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_REAL_IP="203.0.113.7")
    # when an event is recorded for the request
    event = log.record(Action.TICKET_SUBMITTED, request=request, ticket_ref="RP-1")
    # then it names the client, as the per-IP limits do, not the proxy
    assert event.ip == "203.0.113.7"
    # and a header that is not an address is not recorded as one
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_REAL_IP="unknown")
    assert log.record(Action.TICKET_SUBMITTED, request=request, ticket_ref="RP-1").ip == ""


@pytest.mark.parametrize("action", ["ticket.closed", "ticket.clsoed", "", None])
def test_record_refuses_an_action_that_is_not_a_member(db, action) -> None:  # type: ignore[no-untyped-def]
    # given a caller passing text — even text that spells a member's value
    # when / then nothing is written
    with pytest.raises(log.UnknownAction):
        log.record(action, ticket_ref="RP-1")
    assert not AuditEvent.objects.exists()


def test_record_stores_the_members_value(db) -> None:  # type: ignore[no-untyped-def]
    # given / when
    event = log.record(Action.TICKET_CLOSED, ticket_ref="RP-1")
    # then the row holds the plain text the chain hashed, not the member's repr
    fresh = AuditEvent.objects.get(pk=event.pk)
    assert type(fresh.action) is str and fresh.action == "ticket.closed"
    assert chain.event_hash(fresh) == fresh.hash


# --- who acted ----------------------------------------------------------------------------


def test_record_names_the_signed_in_person_as_a_person(agent) -> None:  # type: ignore[no-untyped-def]
    event = log.record(Action.TICKET_CLAIMED, actor=agent, ticket_ref="RP-1")
    assert (event.actor_kind, event.actor_label, event.who) == ("person", "agent", "agent")
    assert event.on_behalf_of_id is None and event.on_behalf_of_label == ""


def test_record_names_the_system_and_the_person_it_acts_for(approver) -> None:  # type: ignore[no-untyped-def]
    # given a worker recording what it did for the approver's request
    event = log.record(
        Action.GRAPH_REVOKE_SESSIONS, actor=log.SYSTEM, on_behalf_of=approver, ticket_ref="RP-1"
    )
    # then the system did it, for the approver — not the approver
    fresh = AuditEvent.objects.get(pk=event.pk)
    assert (fresh.actor_kind, fresh.actor_id, fresh.actor_label) == ("system", None, "")
    assert (fresh.on_behalf_of_id, fresh.on_behalf_of_label) == (approver.pk, "approver")
    assert fresh.who == "System (on behalf of approver)"
    assert chain.event_hash(fresh) == fresh.hash


def test_record_without_anyone_is_the_systems(db) -> None:  # type: ignore[no-untyped-def]
    # given a beat task, with neither a person nor a request
    event = log.record(Action.AUDIT_RETENTION_PURGED)
    assert (event.actor_kind, event.who) == ("system", "System")


def test_record_for_someone_not_signed_in_is_the_publics(db) -> None:  # type: ignore[no-untyped-def]
    # given a visitor's request, and a count that must not carry their address
    request = RequestFactory().get("/", REMOTE_ADDR="10.1.2.3")
    request.user = AnonymousUser()
    through_request = log.record(Action.LINK_USED, request=request)
    without_address = log.record(Action.TRIAGE_DEFLECTED, actor=log.PUBLIC)
    # then both are the public's; only the first has an address
    assert through_request.actor_kind == without_address.actor_kind == "public"
    assert without_address.who == "Not signed in" and without_address.ip == ""
    assert through_request.ip == "10.1.2.3"


def test_record_refuses_on_behalf_of_for_a_person(agent, approver) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="system action"):
        log.record(Action.TICKET_CLAIMED, actor=agent, on_behalf_of=approver)
    assert not AuditEvent.objects.exists()

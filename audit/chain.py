"""The canonical form of an event and its hashes — shared by the writer and the verifier.

``hash = sha256(prev_hash + "\\n" + content)`` where ``content`` is the compact JSON array

    ["rp-audit/2", created_at, action, outcome, actor_kind, actor_id, actor_label, actor_roles,
     on_behalf_of_id, on_behalf_of_label, ticket_ref, data_text, pii_commitment]

Every event written since the actor kind exists has one ("person", "system", "public"); an
event from before has none (""), and its content is the first version's, unchanged:

    ["rp-audit/1", created_at, action, outcome, actor_id, actor_label, actor_roles,
     ticket_ref, data_text, pii_commitment]

So the row says which form covers it, old rows verify as they always did, and blanking a new
row's kind to pass it off as old breaks its hash (the version tag and the fields are hashed).

``created_at`` is UTC ISO 8601 with microseconds (``2026-11-27T15:23:00.123456+00:00``);
``data_text`` is the ``data`` JSON exactly as PostgreSQL renders the stored jsonb (``data::text``
— what exports and SIEM lines carry), so nobody has to re-create a JSON serializer's choices.
Personal values are not in ``content``; their salted commitment is:

    pii_commitment = sha256(salt + "\\n" + ["subject", "reason", "ip", "user_agent", personal_text])

The form is plain enough for an auditor to re-implement from an export (docs/AUDIT.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import connection

if TYPE_CHECKING:
    from audit.models import AuditEvent

VERSION_1 = "rp-audit/1"
VERSION = "rp-audit/2"
GENESIS_HASH = "0" * 64
# Compact and ASCII-only: the same text from any language's JSON library.
dumps = json.JSONEncoder(separators=(",", ":")).encode


def iso(moment: dt.datetime) -> str:
    """UTC, always with microseconds: the same text PostgreSQL's to_char gives the verifier."""
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Actor:
    """The hashed actor columns of one event."""

    kind: str  # "" before rp-audit/2
    id: int | None
    label: str
    roles: str
    on_behalf_of_id: int | None = None
    on_behalf_of_label: str = ""


def content(
    created_at: str,
    action: str,
    outcome: str,
    actor: Actor,
    ticket_ref: str,
    data_text: str,
    pii_commitment: str,
) -> str:
    if not actor.kind:
        head = [VERSION_1, created_at, action, outcome, actor.id, actor.label, actor.roles]
        return dumps([*head, ticket_ref, data_text, pii_commitment])
    return dumps(
        [
            VERSION,
            created_at,
            action,
            outcome,
            actor.kind,
            actor.id,
            actor.label,
            actor.roles,
            actor.on_behalf_of_id,
            actor.on_behalf_of_label,
            ticket_ref,
            data_text,
            pii_commitment,
        ]
    )


def link(prev_hash: str, body: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def commitment(
    salt: str, subject: str, reason: str, ip: str, user_agent: str, personal_text: str
) -> str:
    body = dumps([subject, reason, ip, user_agent, personal_text])
    return hashlib.sha256(f"{salt}\n{body}".encode()).hexdigest()


def to_json(value: Any) -> str:
    """JSON text PostgreSQL accepts as jsonb (non-finite floats become strings)."""

    def safe(item: Any) -> Any:
        if isinstance(item, float) and not math.isfinite(item):
            return str(item)
        if isinstance(item, dict):
            return {key: safe(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [safe(inner) for inner in item]
        return item

    return json.dumps(safe(value))


def jsonb_texts(*values: Any) -> list[str]:
    """How PostgreSQL renders each value once stored as jsonb (one round trip)."""
    if not values:
        return []
    casts = ", ".join(["%s::jsonb::text"] * len(values))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {casts}", [to_json(v) for v in values])  # noqa: S608
        return list(cursor.fetchone())


def event_actor(event: AuditEvent) -> Actor:
    return Actor(
        event.actor_kind,
        event.actor_id,
        event.actor_label,
        event.actor_roles,
        event.on_behalf_of_id,
        event.on_behalf_of_label,
    )


def event_content(event: AuditEvent, data_text: str | None = None) -> str:
    return content(
        iso(event.created_at),
        event.action,
        event.outcome,
        event_actor(event),
        event.ticket_ref,
        jsonb_texts(event.data)[0] if data_text is None else data_text,
        event.pii_commitment,
    )


def event_hash(event: AuditEvent, data_text: str | None = None) -> str:
    return link(event.prev_hash, event_content(event, data_text))


def event_commitment(event: AuditEvent, personal_text: str | None = None) -> str:
    if personal_text is None:
        personal_text = jsonb_texts(event.personal)[0]
    return commitment(
        event.pii_salt, event.subject, event.reason, event.ip, event.user_agent, personal_text
    )

"""The canonical form of an event and its hashes — shared by the writer and the verifier.

An event's hash is ``sha256(prev_hash + "\\n" + content)`` where ``content`` is the compact JSON
array below. Personal values are not in ``content``; their salted commitment is. The form is
plain enough for an auditor to re-implement from the SIEM lines or an export (docs/AUDIT.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audit.models import AuditEvent

VERSION = "rp-audit/1"
GENESIS_HASH = "0" * 64
_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def iso(moment: dt.datetime) -> str:
    """UTC, always with microseconds: the same text PostgreSQL's to_char gives the verifier."""
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def content(
    created_at: str,
    action: str,
    outcome: str,
    actor_id: int | None,
    actor_label: str,
    actor_roles: str,
    ticket_ref: str,
    data: Any,
    pii_commitment: str,
) -> bytes:
    return _dumps(
        [
            VERSION,
            created_at,
            action,
            outcome,
            actor_id,
            actor_label,
            actor_roles,
            ticket_ref,
            data,
            pii_commitment,
        ]
    ).encode()


def link(prev_hash: str, body: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + body).hexdigest()


def commitment(
    salt: str, subject: str, reason: str, ip: str, user_agent: str, personal: Any
) -> str:
    body = _dumps([subject, reason, ip, user_agent, personal]).encode()
    return hashlib.sha256(salt.encode() + b"\n" + body).hexdigest()


def event_content(event: AuditEvent) -> bytes:
    return content(
        iso(event.created_at),
        event.action,
        event.outcome,
        event.actor_id,
        event.actor_label,
        event.actor_roles,
        event.ticket_ref,
        event.data,
        event.pii_commitment,
    )


def event_hash(event: AuditEvent) -> str:
    return link(event.prev_hash, event_content(event))


def event_commitment(event: AuditEvent) -> str:
    return commitment(
        event.pii_salt, event.subject, event.reason, event.ip, event.user_agent, event.personal
    )

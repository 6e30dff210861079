"""Writing audit events: one function, called inside the transaction of the change it records."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.models import AuditEvent, Outcome

GENESIS_HASH = "0" * 64
# Any constant works; it names the one lock that serializes appends to the chain.
_CHAIN_LOCK_KEY = 0x52504155  # "RPAU"
siem_logger = logging.getLogger("audit.siem")

HASHED_FIELDS = (
    "created_at",
    "action",
    "outcome",
    "actor_id",
    "actor_label",
    "actor_roles",
    "ip",
    "user_agent",
    "ticket_ref",
    "subject",
    "reason",
    "data",
)


def canonical(event: AuditEvent) -> bytes:
    """The bytes the hash covers: the recorded fields, as sorted compact JSON."""
    content: dict[str, Any] = {name: getattr(event, name) for name in HASHED_FIELDS}
    content["created_at"] = event.created_at.isoformat()
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=str).encode()


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(event.prev_hash.encode() + b"\n" + canonical(event)).hexdigest()


def _actor_fields(actor: AbstractBaseUser | AnonymousUser | None) -> dict[str, Any]:
    if actor is None or not actor.is_authenticated:
        return {"actor_id": None, "actor_label": "", "actor_roles": ""}
    roles = ",".join(sorted(actor.groups.values_list("name", flat=True)))  # type: ignore[attr-defined]
    return {"actor_id": actor.pk, "actor_label": actor.get_username(), "actor_roles": roles}


def _request_fields(request: HttpRequest | None) -> dict[str, Any]:
    if request is None:
        return {"ip": None, "user_agent": ""}
    return {
        "ip": request.META.get("REMOTE_ADDR") or None,
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
    }


def record(
    action: str,
    *,
    actor: AbstractBaseUser | AnonymousUser | None = None,
    request: HttpRequest | None = None,
    ticket_ref: str = "",
    subject: str = "",
    reason: str = "",
    outcome: str = Outcome.SUCCESS,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain.

    Call it inside the transaction of the change it records, so both commit or neither does.
    Appends are serialized by a transaction-scoped advisory lock: concurrent writers queue
    instead of forking the chain. Never pass a secret (TAP, claim code, token) in any field.
    """
    if actor is None and request is not None:
        actor = getattr(request, "user", None)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
        last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
        event = AuditEvent(
            created_at=timezone.now(),
            action=action,
            outcome=outcome,
            ticket_ref=ticket_ref,
            subject=subject[:254],
            reason=reason,
            data=data or {},
            prev_hash=last or GENESIS_HASH,
            **_actor_fields(actor),
            **_request_fields(request),
        )
        event.hash = compute_hash(event)
        event.save(force_insert=True)
        transaction.on_commit(lambda: siem_logger.info(siem_line(event)))
    return event


def siem_line(event: AuditEvent) -> str:
    """One structured JSON line per event, for shipping to a SIEM."""
    payload = json.loads(canonical(event))
    payload.update(
        {
            "id": event.pk,
            "hash": event.hash,
            "prev_hash": event.prev_hash,
            "type": "recovery_portal.audit",
        }
    )
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))

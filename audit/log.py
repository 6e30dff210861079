"""Writing audit events: one function, called inside the transaction of the change it records."""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
from collections.abc import Mapping
from typing import Any, Literal, TypeAlias

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit import chain
from audit.actions import Action
from audit.models import ActorKind, AuditEvent, Outcome

GENESIS_HASH = chain.GENESIS_HASH
# ``actor=log.SYSTEM``: the portal itself acts (a worker, a beat sweep, a command), usually
# ``on_behalf_of`` the person whose request it carries out. ``actor=log.PUBLIC``: someone not
# signed in, when the event must not carry their request's address (IP, user agent).
SYSTEM: Literal[ActorKind.SYSTEM] = ActorKind.SYSTEM
PUBLIC: Literal[ActorKind.PUBLIC] = ActorKind.PUBLIC
Actor: TypeAlias = (
    AbstractBaseUser | AnonymousUser | Literal[ActorKind.SYSTEM, ActorKind.PUBLIC] | None
)
# Any constant works; it names the one lock that serializes appends to the chain.
_CHAIN_LOCK_KEY = 0x52504155  # "RPAU"
siem_logger = logging.getLogger("audit.siem")

# Keys that name a secret: an event carrying one is refused outright (a TAP, claim code or link
# token must never reach the audit trail, the SIEM or an export).
SECRET_KEYS = frozenset(
    {
        "tap",
        "temporary_access_pass",
        "temporaryaccesspass",
        "pass",
        "password",
        "secret",
        "claim_code",
        "code",
        "token",
        "link_token",
        "access_token",
        "otp",
        "totp",
    }
)


class SecretInAuditEvent(ValueError):
    """A caller tried to put something that looks like a secret into an event."""


class UnknownAction(TypeError):
    """A caller passed something other than an ``audit.actions.Action`` member."""


def _text(value: str) -> str:
    """Text PostgreSQL can store: no NUL, no lone surrogate (each becomes U+FFFD)."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = "".join(c if not 0xD800 <= ord(c) <= 0xDFFF else "\ufffd" for c in value)
    return value


def _clean(value: Any, *, where: str) -> Any:
    """JSON-safe copy: str keys; str/int/float/bool/None leaves; anything else as its str."""
    if isinstance(value, Mapping):
        cleaned = {}
        for key, item in value.items():
            name = _text(str(key))
            if name.lower() in SECRET_KEYS:
                raise SecretInAuditEvent(f"Audit {where} may not carry a {name!r} field.")
            cleaned[name] = _clean(item, where=where)
        return cleaned
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(item, where=where) for item in value]
    if isinstance(value, str):
        return _text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return _text(str(value))


def _actor_fields(
    actor: Actor, *, request: HttpRequest | None, on_behalf_of: AbstractBaseUser | None
) -> dict[str, Any]:
    """The actor columns. Nobody named and no request: the system (a worker, a beat task, a
    command). Nobody signed in behind a request: the public."""
    if actor is None and request is not None:
        actor = getattr(request, "user", None)
    fields: dict[str, Any] = {"actor_id": None, "actor_label": "", "actor_roles": ""}
    if actor is SYSTEM or (actor is None and request is None):
        kind = ActorKind.SYSTEM
    elif actor is PUBLIC or actor is None or not actor.is_authenticated:
        kind = ActorKind.PUBLIC
    else:
        roles = ",".join(sorted(actor.groups.values_list("name", flat=True)))  # type: ignore[attr-defined]
        fields = {"actor_id": actor.pk, "actor_label": actor.get_username(), "actor_roles": roles}
        kind = ActorKind.PERSON
    behalf = on_behalf_of if on_behalf_of is not None and on_behalf_of.is_authenticated else None
    if behalf is not None and kind != ActorKind.SYSTEM:
        raise ValueError("on_behalf_of names the person behind a system action only.")
    return {
        **fields,
        "actor_kind": kind.value,
        "on_behalf_of_id": behalf.pk if behalf is not None else None,
        "on_behalf_of_label": _text(behalf.get_username()) if behalf is not None else "",
    }


def client_ip(request: HttpRequest) -> str:
    """The client's address as the per-IP limits count it: REMOTE_ADDR, or behind a reverse
    proxy the request header named by RP_CLIENT_IP_META_KEY (its first address). "" if none."""
    meta_key = getattr(settings, "RATELIMIT_IP_META_KEY", None) or "REMOTE_ADDR"
    raw = str(request.META.get(meta_key, "")).split(",")[0].strip()
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return ""


def _request_fields(request: HttpRequest | None) -> dict[str, Any]:
    if request is None:
        return {"ip": "", "user_agent": ""}
    user_agent = _text(request.META.get("HTTP_USER_AGENT", "")[:300])
    return {"ip": client_ip(request), "user_agent": user_agent}


def record(
    action: Action,
    *,
    actor: Actor = None,
    on_behalf_of: AbstractBaseUser | None = None,
    request: HttpRequest | None = None,
    ticket_ref: str = "",
    subject: str = "",
    reason: str = "",
    outcome: str = Outcome.SUCCESS,
    data: Mapping[str, Any] | None = None,
    personal: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain; ``action`` is an ``audit.actions.Action`` member.

    ``actor`` is the signed-in person (default: the request's user), ``SYSTEM`` for what the
    portal does by itself — with ``on_behalf_of`` the person whose request it carries out, when
    known — or ``PUBLIC`` for someone not signed in; with neither an actor nor a request the
    event is the system's. Call it inside the transaction of the change it records, so both
    commit or neither does.
    Appends are serialized by a transaction-scoped advisory lock held until that transaction
    ends: concurrent writers queue instead of forking the chain. ``subject``, ``reason``, the
    request's IP and user agent and ``personal`` are personal data, redactable by the retention
    purge; ``data`` is kept for ever. Raises SecretInAuditEvent for a secret-looking key, and
    UnknownAction for an action that is not a member (a bare string is refused even when it
    spells a member's value: the vocabulary is the type). Side effect: one SIEM JSON line after
    commit.
    """
    if not isinstance(action, Action):
        raise UnknownAction(f"Audit actions are audit.actions.Action members, not {action!r}.")
    actor_fields = _actor_fields(actor, request=request, on_behalf_of=on_behalf_of)
    # The hash covers PostgreSQL's rendering of the stored jsonb (audit.chain); ask for it
    # before taking the lock.
    data_text, personal_text = chain.jsonb_texts(
        _clean(data or {}, where="data"), _clean(personal or {}, where="personal")
    )
    # No savepoint: the event belongs to the caller's transaction (a failure here must undo the
    # change it records anyway), and two round trips fewer matter while the chain lock is held.
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
        last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
        event = AuditEvent(
            created_at=timezone.now(),
            action=action.value,
            outcome=outcome,
            ticket_ref=_text(ticket_ref[:32]),
            subject=_text(subject[:254]),
            reason=_text(reason),
            data=json.loads(data_text),
            personal=json.loads(personal_text),
            pii_salt=secrets.token_hex(16),
            prev_hash=last or GENESIS_HASH,
            **actor_fields,
            **_request_fields(request),
        )
        event.pii_commitment = chain.event_commitment(event, personal_text)
        event.hash = chain.event_hash(event, data_text)
        event.save(force_insert=True)
        event.data_text, event.personal_text = data_text, personal_text  # type: ignore[attr-defined]
        transaction.on_commit(lambda: siem_logger.info(siem_line(event)))
    return event


def siem_line(event: AuditEvent) -> str:
    """One structured JSON line per event, for shipping to a SIEM.

    It carries the hashed content (``data_text`` is the exact hashed text) and both hashes, so a
    SIEM holds an independent copy of the chain; the personal values travel too (the SIEM has
    its own retention).
    """
    data_text = getattr(event, "data_text", None)
    personal_text = getattr(event, "personal_text", None)
    if data_text is None or personal_text is None:
        data_text, personal_text = chain.jsonb_texts(event.data, event.personal)
    payload = {
        "type": "recovery_portal.audit",
        "id": event.pk,
        "time": chain.iso(event.created_at),
        "action": event.action,
        "outcome": event.outcome,
        "actor_id": event.actor_id,
        "actor": event.actor_label,
        "actor_roles": event.actor_roles,
        "actor_kind": event.actor_kind,
        "on_behalf_of_id": event.on_behalf_of_id,
        "on_behalf_of": event.on_behalf_of_label,
        "ticket": event.ticket_ref,
        "data": event.data,
        "data_text": data_text,
        "pii_commitment": event.pii_commitment,
        "subject": event.subject,
        "reason": event.reason,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "personal": event.personal,
        "personal_text": personal_text,
        "pii_salt": event.pii_salt,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))

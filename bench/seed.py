"""Fast seeding: tickets with one INSERT … SELECT generate_series, audit events with COPY.

The audit events form a valid chain: every hash is computed here exactly as ``audit.chain``
defines it (the verifier must accept the seeded table), continuing from whatever head the
table already has. ``data_text`` must be the text PostgreSQL gives for the stored jsonb; it is
rendered here in Python (keys by length, then bytes; ", " and ": ") and checked against
PostgreSQL for a sample of every kind of event before anything is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection

from audit import chain
from tickets import policy
from tickets.models import Urgency

DOMAIN = "contoso.example"
MANAGER_UPN = f"bench.manager@{DOMAIN}"
# The history the seeded rows span (tickets and events are spread over it).
HISTORY_DAYS = 730
EVENTS_PER_TICKET = 10
OPEN_EVERY = 10  # one ticket in ten is still open: a heavy backlog for the queue
OPEN_STATUSES = (
    "new",
    "new",
    "new",
    "in_verification",
    "verified",
    "approved",
    "executing",
    "executed",
    "failed",
    "frozen",
)
FACTS = {
    "user": {
        "id": "00000000-0000-0000-0000-000000000000",
        "displayName": "Bench User",
        "accountEnabled": True,
        "department": "Finance",
        "jobTitle": "Controller",
        "mobilePhone": "+39 02 5555 0101",
        "onPremisesSyncEnabled": True,
    },
    "manager": {"displayName": "Bench Manager", "userPrincipalName": MANAGER_UPN},
    "is_privileged": False,
    "privileged_roles": [],
    "methods": [
        {"id": "m-auth", "type": "microsoftAuthenticator", "displayName": "Pixel 7"},
        {"id": "m-phone", "type": "phone", "displayName": "+39 *** 0101"},
    ],
}


@dataclass(frozen=True)
class Person:
    pk: int
    username: str
    roles: str


@dataclass(frozen=True)
class Cast:
    agent: Any
    approver: Any
    auditor: Any
    manager: Any


def _staff(username: str, roles: list[str], *, email: str = "") -> Any:
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import generate_totp_secret
    from allauth.mfa.utils import encrypt

    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=username, defaults={"email": email or f"{username}@{DOMAIN}"}
    )
    if created:
        user.set_unusable_password()
        user.save()
        user.groups.set(Group.objects.filter(name__in=roles))
        # The staff pages want a second factor: the same TOTP row an enrolment creates.
        Authenticator.objects.create(
            user=user,
            type=Authenticator.Type.TOTP,
            data={"secret": encrypt(generate_totp_secret())},
        )
    return user


def ensure_cast() -> Cast:
    """The staff the benchmarks act as (the roles come from the tickets.0002 data migration)."""
    return Cast(
        agent=_staff("bench-agent", ["helpdesk_agent"]),
        approver=_staff("bench-approver", ["approver"]),
        auditor=_staff("bench-auditor", ["auditor"]),
        manager=_staff("bench-manager", [], email=MANAGER_UPN),
    )


def reference(number: int) -> str:
    digits = f"{number:08d}"
    return f"RP-{digits[:4]}-{digits[4:]}"


def upn(number: int) -> str:
    return f"user{number % 40000:05d}@{DOMAIN}"


def count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - our table names
        return int(cursor.fetchone()[0])


_TICKETS_SQL = """
INSERT INTO tickets_ticket (
    reference, status, created_at, updated_at, full_name, upn, department, urgency,
    blocked_work, alternate_phone, alternate_email, what_happened, methods_still_working,
    backup_enabled, preferred_verification, details, language, claim_code_hash,
    directory_state, directory_facts, is_privileged, manager_upn, flagged, flag_reason,
    assigned_to_id, duplicate_of_id)
SELECT 'RP-' || substr(lpad(i::text, 8, '0'), 1, 4) || '-' || substr(lpad(i::text, 8, '0'), 5, 4),
       s.status,
       s.created, s.created + interval '2 hours',
       'Bench User ' || i,
       'user' || lpad((i %% 40000)::text, 5, '0') || '@contoso.example',
       (ARRAY['Finance', 'Sales', 'Engineering', 'Legal', 'Operations'])[1 + i %% 5],
       (ARRAY['low', 'normal', 'normal', 'high', 'critical'])[1 + i %% 5],
       'Month-end close',
       '+39 333 ' || lpad((i %% 10000000)::text, 7, '0'),
       'user' || i || '@example.org',
       (ARRAY['lost', 'stolen', 'broken', 'replaced', 'number_changed', 'other'])[1 + i %% 6],
       '["sms"]'::jsonb, 'unknown', 'video',
       'Lost my phone on the train; I need to approve the payroll run today.',
       'en',
       'hmac-sha256$' || md5(i::text) || md5((i + 1)::text),
       'found', %(facts)s::jsonb,
       CASE WHEN i %% 97 = 0 THEN NULL ELSE i %% 50 = 0 END,
       %(manager)s,
       i %% 23 = 0, CASE WHEN i %% 23 = 0 THEN 'Another open request exists.' ELSE '' END,
       CASE WHEN s.status IN ('new', 'closed', 'restored') THEN NULL ELSE %(agent)s END,
       NULL
  FROM generate_series(%(first)s, %(last)s) AS i,
       LATERAL (SELECT
         CASE WHEN i %% %(open_every)s = 0
              THEN (%(open_statuses)s::text[])[1 + (i / %(open_every)s) %% %(n_open)s]
              WHEN i %% 2 = 0 THEN 'closed' ELSE 'restored' END AS status,
         CASE WHEN i %% %(open_every)s = 0
              THEN now() - interval '7 days' * random()
              ELSE now() - make_interval(days => %(days)s) * random() END AS created) AS s
"""


def seed_tickets(total: int, *, cast: Cast) -> float:
    """Top the tickets table up to ``total`` rows. Returns the seconds it took."""
    first = count("tickets_ticket") + 1
    if first > total:
        return 0.0
    started = time.perf_counter()
    params = {
        "facts": json.dumps(FACTS),
        "manager": MANAGER_UPN,
        "agent": cast.agent.pk,
        "first": first,
        "last": total,
        "open_every": OPEN_EVERY,
        "open_statuses": list(OPEN_STATUSES),
        "n_open": len(OPEN_STATUSES),
        "days": HISTORY_DAYS,
    }
    with connection.cursor() as cursor:
        cursor.execute(_TICKETS_SQL, params)
        # The SLA due time as intake stores it: received time plus the policy's SLA.
        for urgency in Urgency.values:
            cursor.execute(
                "UPDATE tickets_ticket SET sla_due_at = created_at + %s"
                " WHERE urgency = %s AND sla_due_at IS NULL",
                [policy.current().sla(urgency), urgency],
            )
        cursor.execute("ANALYZE tickets_ticket")
    return time.perf_counter() - started


# --- Audit events ------------------------------------------------------------------------------


def jsonb_text(value: Any) -> str:
    """PostgreSQL's text for a jsonb value: object keys ordered by length, then bytes."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        pairs = (f"{json.dumps(k, ensure_ascii=False)}: {jsonb_text(value[k])}" for k in keys)
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(jsonb_text(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class Event:
    action: str
    actor: Person | None
    data: dict[str, Any]
    reason: str = ""
    personal: dict[str, Any] | None = None
    outcome: str = "success"
    # audit.models.ActorKind: a person when ``actor`` is set, else the system or the public.
    kind: str = "system"
    on_behalf_of: Person | None = None


def _uuid(number: int, salt: int) -> str:
    return str(uuid.UUID(int=(number << 8 | salt) & ((1 << 128) - 1)))


def _lifecycle(ticket: int, step: int, people: dict[str, Person]) -> Event:
    """The ``step``-th event of a ticket's story (a closed case has ten)."""
    op = _uuid(ticket, 1)
    agent, approver, manager = people["agent"], people["approver"], people["manager"]
    match step:
        case 0:
            wh = ("lost", "stolen", "broken", "replaced", "number_changed", "other")[ticket % 6]
            data = {"what_happened": wh, "urgency": "normal", "duplicate_of": "", "language": "en"}
            return Event("ticket.submitted", None, data, kind="public")
        case 1:
            data = {"operation_id": op, "kind": "directory_lookup", "params": {}}
            return Event("graph.requested", None, data)
        case 2:
            data = {
                "operation_id": op,
                "kind": "directory_lookup",
                "status": "succeeded",
                "attempts": 1,
                "graph_request_ids": [_uuid(ticket, 2)],
                "privileged": False,
            }
            return Event("graph.directory_lookup", None, data)
        case 3:
            data = {"state": "found", "operation_id": op, "privileged": False, "has_manager": True}
            return Event("ticket.directory_checked", None, data)
        case 4:
            return Event("ticket.claimed", agent, {"previous_assignee_id": None})
        case 5:
            plan = {"issue_tap": True, "tap_lifetime_minutes": 60, "revoke_sessions": True}
            data = {"method": "in_person", "privileged": False, "plan": plan}
            return Event("ticket.identity_verified", agent, data, reason="Badge and face match.")
        case 6:
            return Event(
                "ticket.manager_link_sent",
                None,
                {"routed_to_security": False},
                personal={"recipients": [MANAGER_UPN]},
                on_behalf_of=agent,
            )
        case 7:
            data = {"routed_to_security": False}
            return Event("ticket.manager_confirmed", manager, data, reason="Confirmed by phone.")
        case 8:
            return Event("ticket.approved", approver, {"role": "approver", "privileged": False})
        case _:
            return Event("ticket.closed", agent, {"status": "closed"}, reason="Access restored.")


def _people(cast: Cast) -> dict[str, Person]:
    def person(user: Any) -> Person:
        roles = ",".join(sorted(user.groups.values_list("name", flat=True)))
        return Person(user.pk, user.get_username(), roles)

    return {
        "agent": person(cast.agent),
        "approver": person(cast.approver),
        "manager": person(cast.manager),
    }


def _check_renderings(people: dict[str, Person]) -> None:
    """Our jsonb rendering against PostgreSQL's, for every kind of event (and the personal)."""
    samples: list[Any] = []
    for step in range(EVENTS_PER_TICKET):
        event = _lifecycle(12345, step, people)
        samples += [event.data, event.personal or {}]
    texts = chain.jsonb_texts(*samples)
    for value, text in zip(samples, texts, strict=True):
        if jsonb_text(value) != text:
            raise AssertionError(f"jsonb rendering differs: {jsonb_text(value)!r} != {text!r}")


_COPY = (
    "COPY audit_auditevent (created_at, action, outcome, actor_kind, actor_id, actor_label,"
    " actor_roles, on_behalf_of_id, on_behalf_of_label, ticket_ref, data, pii_commitment,"
    " subject, reason, ip, user_agent, personal, pii_salt, prev_hash, hash) FROM STDIN"
)


def _rows(first: int, last: int, prev: str, people: dict[str, Person]) -> Iterator[tuple]:  # type: ignore[type-arg]
    """Event rows ``first``…``last`` (1-based), chained from ``prev``."""
    sha256, dumps, version = hashlib.sha256, chain.dumps, chain.VERSION
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=HISTORY_DAYS)
    step_us = int(HISTORY_DAYS * 86400 * 1_000_000 / 1_200_000)  # room for 1.2M events
    salts = os.urandom(16 * (last - first + 1)).hex()
    cache: dict[tuple[int, int], tuple[str, str]] = {}
    for n in range(first, last + 1):
        ticket, step = divmod(n - 1, EVENTS_PER_TICKET)
        ticket += 1
        event = _lifecycle(ticket, step, people)
        key = (step, ticket if step in (0, 1, 2, 3) else 0)
        texts = cache.get(key)
        if texts is None:
            texts = (jsonb_text(event.data), jsonb_text(event.personal or {}))
            if key[1] == 0:
                cache[key] = texts
        data_text, personal_text = texts
        ts = (start + dt.timedelta(microseconds=n * step_us)).isoformat(timespec="microseconds")
        ref = reference(ticket)
        subject = upn(ticket)
        ip, agent_string = ("203.0.113.7", "Mozilla/5.0 (bench)") if step == 0 else ("", "")
        i = (n - first) * 32
        salt = salts[i : i + 32]
        pii = dumps([subject, event.reason, ip, agent_string, personal_text])
        commit = sha256(f"{salt}\n{pii}".encode()).hexdigest()
        who, behalf = event.actor, event.on_behalf_of
        actor_id, label, roles = (who.pk, who.username, who.roles) if who else (None, "", "")
        kind = "person" if who else event.kind
        behalf_id, behalf_label = (behalf.pk, behalf.username) if behalf else (None, "")
        action, outcome = event.action, event.outcome
        body = dumps([version, ts, action, outcome, kind, actor_id, label, roles,
                      behalf_id, behalf_label, ref, data_text, commit])  # fmt: skip
        digest = sha256(f"{prev}\n{body}".encode()).hexdigest()
        yield (
            ts, event.action, event.outcome, kind, actor_id, label, roles, behalf_id,
            behalf_label, ref, data_text, commit, subject, event.reason, ip, agent_string,
            personal_text, salt, prev, digest,
        )  # fmt: skip
        prev = digest


def seed_events(total: int, *, cast: Cast, batch: int = 100_000) -> float:
    """Top the audit table up to ``total`` events, continuing the chain. Returns seconds."""
    have = count("audit_auditevent")
    if have >= total:
        return 0.0
    people = _people(cast)
    _check_renderings(people)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT hash FROM audit_auditevent ORDER BY id DESC LIMIT 1")
        row = cursor.fetchone()
    prev = row[0] if row else chain.GENESIS_HASH
    raw = connection.connection  # psycopg's own connection, for COPY
    for first in range(have + 1, total + 1, batch):
        last = min(total, first + batch - 1)
        with raw.cursor() as cursor, cursor.copy(_COPY) as copy:
            for values in _rows(first, last, prev, people):
                copy.write_row(values)
                prev = values[-1]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_auditevent")
    return time.perf_counter() - started

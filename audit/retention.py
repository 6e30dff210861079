"""Retention: blank the personal values of closed cases once the retention period is over.

Only the redactable columns change (the trigger allows nothing else), so every hash still
checks; the purge itself is recorded, and the verifier accepts a blank row only when such a
record covers it. Cases are "closed" by their audit events (audit.actions.CLOSING_ACTIONS), so
audit needs nothing from tickets; tickets hears about it through signals.personal_data_purged.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from audit import actions, chain, log
from audit.actions import Action
from audit.models import AuditEvent
from audit.signals import personal_data_purged

_PURGEABLE = """
SELECT e.ticket_ref
  FROM audit_auditevent e
 WHERE e.ticket_ref <> '' AND e.action = ANY(%(lifecycle)s)
 GROUP BY e.ticket_ref
HAVING max(e.created_at) FILTER (WHERE e.action = ANY(%(closing)s)) < %(before)s
   AND max(e.created_at) FILTER (WHERE e.action = ANY(%(closing)s))
       > coalesce(max(e.created_at) FILTER (WHERE e.action = ANY(%(reopening)s)), '-infinity')
   AND EXISTS (SELECT 1 FROM audit_auditevent u
                WHERE u.ticket_ref = e.ticket_ref AND u.redacted_at IS NULL)
 ORDER BY e.ticket_ref
"""
_BLANK = {
    "subject": "",
    "reason": "",
    "ip": "",
    "user_agent": "",
    "personal": {},
    "pii_salt": "",
}


@dataclass(frozen=True)
class PurgeResult:
    ticket_refs: list[str]
    events: int
    before: dt.datetime


def purgeable_ticket_refs(*, before: dt.datetime) -> list[str]:
    """Cases closed (and not reopened since) before ``before`` that still hold personal data."""
    with connection.cursor() as cursor:
        cursor.execute(
            _PURGEABLE,
            {
                "lifecycle": actions.values(actions.CLOSING_ACTIONS + actions.REOPENING_ACTIONS),
                "closing": actions.values(actions.CLOSING_ACTIONS),
                "reopening": actions.values(actions.REOPENING_ACTIONS),
                "before": before,
            },
        )
        return [ref for (ref,) in cursor.fetchall()]


@transaction.atomic
def purge_personal_data(*, days: int | None = None, now: dt.datetime | None = None) -> PurgeResult:
    """Blank the personal values of closed cases older than ``days`` (AUDIT_RETENTION_DAYS),
    and of events without a case older than that. Records one audit.retention.purged event
    naming what it covered; sends personal_data_purged after commit. Idempotent: a second run
    finds nothing left and records nothing."""
    days = settings.AUDIT_RETENTION_DAYS if days is None else days
    before = (now or timezone.now()) - dt.timedelta(days=days)
    refs = purgeable_ticket_refs(before=before)
    fresh = AuditEvent.objects.filter(redacted_at__isnull=True)
    blank = {**_BLANK, "redacted_at": timezone.now()}
    count = fresh.filter(ticket_ref__in=refs).update(**blank)
    holding = ~Q(subject="", reason="", ip="", user_agent="", personal={})
    count += fresh.filter(holding, ticket_ref="", created_at__lt=before).update(**blank)
    if count:
        log.record(
            Action.AUDIT_RETENTION_PURGED,
            data={"ticket_refs": refs, "before": chain.iso(before), "events": count, "days": days},
        )
        transaction.on_commit(
            lambda: personal_data_purged.send(sender=AuditEvent, ticket_refs=refs, before=before)
        )
    return PurgeResult(ticket_refs=refs, events=count, before=before)

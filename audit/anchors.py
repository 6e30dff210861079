"""Publishing the chain head: stored (AuditAnchor), logged, and e-mailed to the auditors.

Copies outside the database are what make a rewrite of the whole table detectable: a rewritten
chain can be self-consistent, but not with a head someone else already holds.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.mail import send_mail
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from audit import chain
from audit.models import AuditAnchor, AuditEvent

anchor_logger = logging.getLogger("audit.anchor")


def publish_chain_head(*, now: dt.datetime | None = None) -> AuditAnchor | None:
    """Store and log the current head. None while the trail is empty. Idempotent in effect:
    an unchanged head is logged again but not stored twice."""
    now = now or timezone.now()
    head = AuditEvent.objects.order_by("-id").values_list("id", "hash").first()
    if head is None:
        return None
    last = AuditAnchor.objects.order_by("-id").first()
    if last is not None and last.event_id == head[0]:
        anchor = last
    else:
        anchor = AuditAnchor.objects.create(
            created_at=now,
            event_id=head[0],
            event_hash=head[1],
            event_count=AuditEvent.objects.filter(id__lte=head[0]).count(),
        )
    anchor_logger.info(anchor_line(anchor))
    return anchor


def anchor_line(anchor: AuditAnchor) -> str:
    return json.dumps(
        {
            "type": "recovery_portal.audit_head",
            "time": chain.iso(anchor.created_at),
            "event_id": anchor.event_id,
            "event_hash": anchor.event_hash,
            "event_count": anchor.event_count,
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def auditor_emails() -> list[str]:
    """Active accounts holding audit.export_audit_trail (the auditors), directly or by group."""
    perm = Permission.objects.get(content_type__app_label="audit", codename="export_audit_trail")
    users = get_user_model().objects.filter(
        Q(groups__permissions=perm) | Q(user_permissions=perm), is_active=True
    )
    return sorted(set(users.exclude(email="").values_list("email", flat=True)))


def email_head_digest(*, now: dt.datetime | None = None) -> int:
    """Publish the head and mail it, with the heads of the last day, to every auditor.
    Returns the number of recipients."""
    now = now or timezone.now()
    anchor = publish_chain_head(now=now)
    recipients = auditor_emails()
    if anchor is None or not recipients:
        return 0
    recent = AuditAnchor.objects.filter(created_at__gte=now - dt.timedelta(days=1))
    body = render_to_string(
        "audit/email/head_digest.txt", {"anchor": anchor, "recent": recent.order_by("id")}
    )
    subject = f"[Recovery Portal] Audit chain head #{anchor.event_id} {anchor.event_hash[:12]}"
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    return len(recipients)

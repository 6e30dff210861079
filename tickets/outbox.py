"""The mail the portal owes: one OutboundMail row per message, written in the transaction of the
state change that owes it, and handed to the worker by name once that transaction commits.

Owing is all this module does; composing and sending are tickets.notifications' (run by the
worker, ``tickets.send_mail``, and re-driven by the beat, ``tickets.send_due_mail``). The
enqueue carries the row's id only: a message lost with the broker down delays the mail by one
beat tick, it never loses it, and a duplicate delivery is a no-op (the sender's claim).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone, translation

from tickets.models import (
    ESSENTIAL_MAIL,
    MailKind,
    MailState,
    ManagerConfirmation,
    OutboundMail,
    Ticket,
)

logger = logging.getLogger(__name__)

SEND_TASK = "tickets.send_mail"


def owe(
    ticket: Ticket,
    *,
    kind: str,
    recipient: str = "",
    confirmation: ManagerConfirmation | None = None,
    context: dict[str, Any] | None = None,
    language: str | None = None,
) -> OutboundMail:
    """Owe one mail about ``ticket`` and hand it to the worker after commit.

    Call inside the transaction of the state change: the mail is owed if and only if that
    change commits. ``language`` defaults to the one active now. ``context`` must hold no
    secret and no address (it is stored as is).
    """
    mail = OutboundMail.objects.create(
        ticket=ticket,
        kind=kind,
        recipient=recipient,
        confirmation=confirmation,
        context=context or {},
        language=language or translation.get_language() or settings.LANGUAGE_CODE,
        next_attempt_at=timezone.now(),
    )
    mail_id = mail.pk
    transaction.on_commit(lambda: enqueue(mail_id))
    return mail


def enqueue(mail_id: int) -> None:
    """Put one owed mail on the queue. A broker error is logged, not raised: the row stays
    pending and the beat sends it (the caller's transaction has committed by now)."""
    try:
        current_app.send_task(SEND_TASK, args=[mail_id])
    except Exception as exc:  # kombu/redis raise their own kinds when the broker is away
        logger.warning("mail %s not queued (%s): the beat sends it", mail_id, type(exc).__name__)


def owe_security_alert(ticket: Ticket, *, headline: str, detail: str, urgent: bool) -> None:
    """Owe the security officers an alert about ``ticket`` (the officers are read when it is
    sent). ``urgent`` marks it HIGH (a privileged account). Staff-facing: in English."""
    context = {"headline": headline, "detail": detail, "urgent": urgent}
    owe(ticket, kind=MailKind.SECURITY_ALERT, context=context, language="en")


def waiting_mail(ticket: Ticket) -> list[OutboundMail]:
    """The essential mail of the case owed and not sent yet (its current round's manager link,
    the "recovery requested" notices), oldest first: what the case waits on while mail fails."""
    current = ~Q(kind=MailKind.MANAGER_LINK) | Q(confirmation__verification__active=True)
    return list(
        OutboundMail.objects.filter(ticket=ticket, kind__in=ESSENTIAL_MAIL, state=MailState.PENDING)
        .filter(current)
        .order_by("created_at", "id")
    )


def essential_mail_waiting() -> Exists:
    """For a ticket queryset's ``annotate``: some essential mail of the ticket (its manager's
    link, a "recovery requested" notice) is owed and not sent yet."""
    return Exists(
        OutboundMail.objects.filter(
            ticket=OuterRef("pk"), kind__in=ESSENTIAL_MAIL, state=MailState.PENDING
        )
    )

"""The recovery case's state machine: the only writer of Ticket.status.

One public function per transition. Each: guard, compare-and-swap update, an audit event in the
same transaction, side effects only after commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit import log
from tickets.models import Status, Ticket
from tickets.roles import Role


class TransitionRefused(Exception):
    """The ticket is not in a state (or the person not in a position) to make this move."""


def _move(ticket: Ticket, *, from_: Iterable[str], to: str, **fields: Any) -> Ticket:
    """Compare-and-swap: only moves the ticket if nobody moved it meanwhile."""
    allowed = list(from_)
    updated = Ticket.objects.filter(pk=ticket.pk, status__in=allowed).update(
        status=to, updated_at=timezone.now(), **fields
    )
    if updated != 1:
        ticket.refresh_from_db()
        raise TransitionRefused(
            f"Ticket {ticket.reference} is {ticket.status}; cannot move to {to}."
        )
    ticket.refresh_from_db()
    return ticket


def security_officer_emails() -> list[str]:
    User = get_user_model()
    return list(
        User.objects.filter(groups__name=Role.SECURITY.value, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )


def alert_security(subject: str, body: str) -> None:
    """Mail every security officer (after commit, by the caller)."""
    recipients = security_officer_emails()
    if recipients:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=True)


@transaction.atomic
def freeze(
    ticket: Ticket,
    *,
    reason: str,
    by: Any = None,
    request: HttpRequest | None = None,
    action: str = "ticket.frozen",
) -> Ticket:
    """Freeze an open ticket for security review ("this wasn't me", fraud flag).

    Precondition: the ticket is open and not already frozen. Side effect: the security officers
    are alerted after commit. Idempotent in effect: a second call raises TransitionRefused.
    """
    previous = ticket.status
    open_states = [s for s in Status if s not in (Status.FROZEN, Status.CLOSED, Status.RESTORED)]
    ticket = _move(
        ticket, from_=open_states, to=Status.FROZEN, flagged=True, flag_reason=reason[:300]
    )
    log.record(
        action,
        actor=by,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        reason=reason,
        data={"from": previous},
    )
    reference = ticket.reference
    transaction.on_commit(
        lambda: alert_security(
            f"[Recovery Portal] Ticket {reference} frozen",
            f"Ticket {reference} was frozen: {reason}\nReview it in the portal: "
            f"{settings.SITE_URL}/staff/",
        )
    )
    return ticket

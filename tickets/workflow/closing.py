"""Closing a case."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from audit import log
from audit.actions import Action
from tickets.models import Status, Ticket, Verification
from tickets.workflow.duties import Staff, require
from tickets.workflow.transitions import TransitionRefused, move


@transaction.atomic
def close(ticket: Ticket, *, by: Staff, reason: str, request: HttpRequest | None = None) -> Ticket:
    """Close a case. Agents close open cases not yet approved; security officers also frozen
    ones (after review). The active round, if any, is superseded. Compare-and-swap."""
    if ticket.status == Status.FROZEN:
        require(by, "tickets.handle_fraud")
        allowed = [Status.FROZEN]
    else:
        require(by, "tickets.work_ticket")
        allowed = [Status.NEW, Status.IN_VERIFICATION, Status.VERIFIED, Status.FAILED]
    if not reason.strip():
        raise TransitionRefused(_("Give a reason."))
    ticket = move(ticket, from_=allowed, to=Status.CLOSED)
    Verification.objects.filter(ticket=ticket, active=True).update(active=False)
    log.record(
        Action.TICKET_CLOSED,
        actor=by,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        reason=reason.strip(),
    )
    return ticket

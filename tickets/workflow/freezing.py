"""Freezing a case for security review, and a security officer releasing it back to work."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from audit import log
from audit.actions import Action
from tickets.models import Status, Ticket, Verification
from tickets.workflow.alerts import alert_security
from tickets.workflow.duties import Staff, require
from tickets.workflow.transitions import TransitionRefused, lock, move


@transaction.atomic
def freeze(
    ticket: Ticket,
    *,
    reason: str,
    by: Any = None,
    request: HttpRequest | None = None,
    action: Action = Action.TICKET_FROZEN,
) -> Ticket:
    """Freeze an open ticket for security review ("this wasn't me", fraud flag).

    Precondition: the ticket is open and not already frozen. Side effect: the security officers
    are owed an alert. Idempotent in effect: a second call raises TransitionRefused.
    """
    previous = ticket.status
    open_states = [s for s in Status if s not in (Status.FROZEN, Status.CLOSED, Status.RESTORED)]
    ticket = move(
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
    alert_security(ticket, headline="Ticket frozen", detail=f"The ticket was frozen: {reason}")
    return ticket


@transaction.atomic
def unfreeze(
    ticket: Ticket, *, by: Staff, reason: str, request: HttpRequest | None = None
) -> Ticket:
    """A security officer releases a frozen case back to work, saying why.

    Precondition: FROZEN; ``by`` holds tickets.handle_fraud; a reason. The case goes back to
    IN_VERIFICATION with its agent (NEW if nobody claimed it), unflagged; the round it had is
    superseded, so identity is verified afresh before anything runs again. Allowed after a
    "this wasn't me" too: the reason is on the record. Compare-and-swap: a second call raises
    TransitionRefused.
    """
    require(by, "tickets.handle_fraud")
    if not reason.strip():
        raise TransitionRefused(_("Give a reason."))
    ticket = lock(ticket)
    to = Status.IN_VERIFICATION if ticket.assigned_to_id else Status.NEW
    ticket = move(ticket, from_=[Status.FROZEN], to=to, flagged=False, flag_reason="")
    Verification.objects.filter(ticket=ticket, active=True).update(active=False)
    log.record(
        Action.TICKET_UNFROZEN,
        actor=by,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        reason=reason.strip(),
        data={"to": to},
    )
    return ticket

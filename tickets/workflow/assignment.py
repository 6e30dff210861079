"""Who works a case: an agent claims it, or it is handed to another agent."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from audit import log
from audit.actions import Action
from tickets.models import (
    Status,
    Ticket,
)
from tickets.workflow.duties import Staff, audits_refusals, check_not_party, require
from tickets.workflow.transitions import TransitionRefused, move


@audits_refusals
@transaction.atomic
def claim(ticket: Ticket, *, by: Staff, request: HttpRequest | None = None) -> Ticket:
    """The agent takes the case: NEW → IN_VERIFICATION, assigned to them.

    Precondition: ``by`` may work tickets and is not the account holder or requester. A case
    already in verification is re-assigned to ``by`` (an agent taking over). Compare-and-swap.
    """
    require(by, "tickets.work_ticket")
    check_not_party(ticket, by=by)
    previous = ticket.assigned_to_id
    if ticket.status == Status.NEW:
        ticket = move(ticket, from_=[Status.NEW], to=Status.IN_VERIFICATION, assigned_to=by)
    else:
        ticket = move(
            ticket, from_=[Status.IN_VERIFICATION], to=Status.IN_VERIFICATION, assigned_to=by
        )
    log.record(
        Action.TICKET_CLAIMED,
        actor=by,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        data={"previous_assignee_id": previous},
    )
    return ticket


@audits_refusals
@transaction.atomic
def assign(ticket: Ticket, *, to: User, by: Staff, request: HttpRequest | None = None) -> Ticket:
    """Hand an open case to another agent. Precondition: both may work tickets."""
    require(by, "tickets.work_ticket")
    if not to.is_active or not to.has_perm("tickets.work_ticket"):
        raise TransitionRefused(_("That person cannot work on recovery tickets."))
    check_not_party(ticket, by=to)
    if ticket.status not in (Status.NEW, Status.IN_VERIFICATION, Status.VERIFIED):
        raise TransitionRefused(_("Only a case not yet approved can change hands."))
    ticket = move(ticket, from_=[ticket.status], to=ticket.status, assigned_to=to)
    log.record(
        Action.TICKET_ASSIGNED,
        actor=by,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        data={"assignee_id": to.pk},
    )
    return ticket

"""The step every transition takes: lock the case, compare-and-swap its status; the case's round."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from tickets import policy as policy_module
from tickets.models import Status, Ticket, Verification

PRE_EXECUTION = (Status.NEW, Status.IN_VERIFICATION, Status.VERIFIED, Status.APPROVED)
POST_EXECUTION = (Status.EXECUTING, Status.EXECUTED, Status.FAILED, Status.RESTORED)


class TransitionRefused(Exception):
    """The ticket is not in a state (or the person not in a position) to make this move."""


def move(ticket: Ticket, *, from_: Iterable[str], to: str, **fields: Any) -> Ticket:
    """Compare-and-swap: move the ticket to ``to`` only if it is still in one of ``from_``
    (and set ``fields``). Raises TransitionRefused when someone moved it meanwhile; returns
    the ticket as stored."""
    allowed = list(from_)
    updated = Ticket.objects.filter(pk=ticket.pk, status__in=allowed).update(
        status=to, updated_at=timezone.now(), **fields
    )
    if updated != 1:
        ticket.refresh_from_db()
        raise TransitionRefused(
            _("Ticket %(ref)s is “%(status)s” now: someone moved it meanwhile; reload the page.")
            % {"ref": ticket.reference, "status": ticket.get_status_display()}
        )
    ticket.refresh_from_db()
    return ticket


def lock(ticket: Ticket) -> Ticket:
    """Lock the ticket row for this transaction: steps of one case are taken one at a time."""
    return Ticket.objects.select_for_update().get(pk=ticket.pk)


def active_verification(ticket: Ticket) -> Verification | None:
    """The case's current round (verification, plan, approvals, steps), if any."""
    return ticket.verifications.filter(active=True).first()


def is_privileged(ticket: Ticket) -> bool:
    """Whether the account counts as privileged (an unknown answer as the policy says)."""
    if ticket.is_privileged is None:
        return policy_module.current().treat_unknown_as_privileged
    return bool(ticket.is_privileged)

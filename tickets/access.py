"""Who may see and act on which ticket. Fetch and check in one place."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from tickets.models import Ticket


def tickets_visible_to(user: Any) -> QuerySet[Ticket]:
    if getattr(user, "is_authenticated", False) and (
        user.has_perm("tickets.view_queue") or user.has_perm("tickets.view_history")
    ):
        return Ticket.objects.all()
    return Ticket.objects.none()


def get_ticket_for_user(user: Any, pk: int, *, write: bool = False) -> Ticket:
    """The ticket, or 404 for whoever may not see it, 403 for whoever may see but not act."""
    try:
        ticket = tickets_visible_to(user).get(pk=pk)
    except Ticket.DoesNotExist:
        raise Http404("No such ticket.") from None
    if (
        write
        and not user.has_perm("tickets.work_ticket")
        and not user.has_perm("tickets.approve_recovery")
    ):
        raise PermissionDenied("You may read this ticket but not act on it.")
    return ticket

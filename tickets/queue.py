"""The recovery queue: the open cases a staff member sees, filtered and sorted."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, QuerySet, Value, When
from django.utils import timezone

from tickets import outbox
from tickets.access import tickets_visible_to
from tickets.models import OPEN_STATUSES, Ticket, Urgency

# What a queue row shows (templates/tickets/staff/queue.html): the wide columns (directory
# facts, the requester's details) stay in the database.
QUEUE_COLUMNS = (
    "reference",
    "flagged",
    "is_privileged",
    "duplicate_of",
    "upn",
    "status",
    "urgency",
    "sla_due_at",
    "created_at",
)
SORTS = ("sla", "oldest", "newest", "urgency")
_URGENCY_RANK = {Urgency.CRITICAL: 0, Urgency.HIGH: 1, Urgency.NORMAL: 2, Urgency.LOW: 3}
_PRIVILEGED = {"yes": True, "no": False, "unknown": None}
_ORDER = {
    "sla": ["sla_due_at", "created_at"],
    "oldest": ["created_at"],
    "newest": ["-created_at"],
    "urgency": ["urgency_rank", "created_at"],
}


@dataclass(frozen=True)
class QueueFilters:
    """What the queue is narrowed to; the defaults show every open case, SLA due first.

    ``privileged``: "yes", "no", "unknown" (not known yet) or "" (any account)."""

    status: str = ""
    urgency: str = ""
    older_than_hours: int | None = None
    privileged: str = ""
    mine: bool = False
    flagged: bool = False
    sort: str = "sla"


def with_urgency_rank(tickets: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """Annotate each ticket with ``urgency_rank`` (0 = critical) for the "most urgent" sort."""
    rank = Case(*[When(urgency=u, then=Value(r)) for u, r in _URGENCY_RANK.items()])
    return tickets.annotate(urgency_rank=rank)


def _filtered(tickets: QuerySet[Ticket], filters: QueueFilters, user: Any) -> QuerySet[Ticket]:
    if filters.status:
        tickets = tickets.filter(status=filters.status)
    else:
        tickets = tickets.filter(status__in=OPEN_STATUSES)
    if filters.urgency:
        tickets = tickets.filter(urgency=filters.urgency)
    if filters.older_than_hours:
        cutoff = timezone.now() - dt.timedelta(hours=filters.older_than_hours)
        tickets = tickets.filter(created_at__lte=cutoff)
    if filters.privileged in _PRIVILEGED:
        tickets = tickets.filter(is_privileged=_PRIVILEGED[filters.privileged])
    if filters.mine:
        tickets = tickets.filter(assigned_to=user)
    if filters.flagged:
        tickets = tickets.filter(flagged=True)
    return tickets


def open_cases(user: Any, filters: QueueFilters | None = None) -> QuerySet[Ticket]:
    """The cases ``user`` may see, narrowed and sorted by ``filters``, each row carrying only
    the columns the queue shows, its assignee, and ``waiting_on_mail`` (an essential mail owed
    and not sent). One query per page whatever its length. id breaks ties, so pages never
    repeat or skip a case; with no filter the order is the partial index ticket_open_sla_due,
    read in order."""
    filters = filters or QueueFilters()
    tickets = _filtered(tickets_visible_to(user), filters, user)
    sort = filters.sort if filters.sort in _ORDER else "sla"
    if sort == "urgency":
        tickets = with_urgency_rank(tickets)
    return (
        tickets.select_related("assigned_to")
        .only(*QUEUE_COLUMNS, "assigned_to__username")
        .annotate(waiting_on_mail=outbox.essential_mail_waiting())
        .order_by(*_ORDER[sort], "id")
    )

"""Finding events: the filters the auditor workspace and the exports share."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from django import forms
from django.db.models import Q, QuerySet, Subquery, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit import chain
from audit.actions import Action
from audit.models import ActorKind, AuditEvent, Outcome

PAGE_SIZE = 50


@dataclass(frozen=True)
class EventFilter:
    account: str = ""
    staff: str = ""
    actor_kind: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    action: str = ""
    outcome: str = ""
    ticket: str = ""

    def is_empty(self) -> bool:
        return not any(asdict(self).values())

    def described(self) -> dict[str, str]:
        """The filters in use, as text (for the export's own audit event)."""
        return {k: str(v) for k, v in asdict(self).items() if v}


class EventFilterForm(forms.Form):
    account = forms.CharField(label=_("Account (UPN)"), required=False, max_length=254)
    staff = forms.CharField(
        label=_("Staff member (username)"),
        required=False,
        max_length=254,
        help_text=_("Their own actions and the system's on their behalf"),
    )
    actor_kind = forms.ChoiceField(
        label=_("Done by"), required=False, choices=[("", _("anyone")), *ActorKind.choices]
    )
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To (inclusive)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    action = forms.CharField(
        label=_("Action"),
        required=False,
        max_length=64,
        help_text=_("Exact name, or a prefix ending in a dot (graph.)"),
        widget=forms.TextInput(attrs={"list": "audit-actions"}),
    )
    outcome = forms.ChoiceField(
        label=_("Outcome"), required=False, choices=[("", _("any")), *Outcome.choices]
    )
    ticket = forms.CharField(label=_("Ticket reference"), required=False, max_length=32)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError(_("The start date is after the end date."))
        return data

    def to_filter(self) -> EventFilter:
        """The validated filter; an invalid form filters nothing out (its errors are shown)."""
        if not self.is_valid():
            return EventFilter()
        data = self.cleaned_data
        return EventFilter(
            account=data["account"].strip(),
            staff=data["staff"].strip(),
            actor_kind=data["actor_kind"],
            date_from=data["date_from"],
            date_to=data["date_to"],
            action=data["action"].strip(),
            outcome=data["outcome"],
            ticket=data["ticket"].strip().upper(),
        )


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


# The dates also bound the ids. The planner cannot know that ids and times rise together, so
# with a date window alone it walks the primary key back from the newest event, filtering every
# row. They do rise together: audit.log.append stamps created_at while it holds the chain lock
# that orders the ids. Each bound is one step down the created_at index, computed inside the
# same query (no extra round trip); the date filters stay, so the rows are exactly the window's.
def _first_id_from(start: dt.datetime) -> Subquery:
    first = AuditEvent.objects.filter(created_at__gte=start).order_by("created_at", "id")
    return Subquery(first.values("id")[:1])


def _last_id_before(end: dt.datetime) -> Subquery:
    last = AuditEvent.objects.filter(created_at__lt=end).order_by("-created_at", "-id")
    return Subquery(last.values("id")[:1])


def filter_events(f: EventFilter) -> QuerySet[AuditEvent]:
    """Events matching ``f``; every filter is an indexed column."""
    events = AuditEvent.objects.all()
    if f.account:
        events = events.filter(subject__in={f.account, f.account.lower()})
    if f.staff:
        events = events.filter(Q(actor_label=f.staff) | Q(on_behalf_of_label=f.staff))
    if f.actor_kind:
        events = events.filter(actor_kind=f.actor_kind)
    if f.date_from:
        start = _day_start(f.date_from)
        events = events.filter(created_at__gte=start, id__gte=_first_id_from(start))
    if f.date_to:
        end = _day_start(f.date_to + dt.timedelta(days=1))
        events = events.filter(created_at__lt=end, id__lte=_last_id_before(end))
    if f.action.endswith("."):
        events = events.filter(action__startswith=f.action)
    elif f.action:
        events = events.filter(action=f.action)
    if f.outcome:
        events = events.filter(outcome=f.outcome)
    if f.ticket:
        events = events.filter(ticket_ref=f.ticket)
    return events


def page_of_events(f: EventFilter, *, before: int | None) -> tuple[list[AuditEvent], int | None]:
    """Newest first, PAGE_SIZE at a time, by id (keyset: as fast on page 1,000 as on page 1).
    Returns the events and the id to continue ``before``, or None on the last page."""
    events = filter_events(f).order_by("-id")
    if before is not None:
        events = events.filter(id__lt=before)
    rows = list(events[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return rows, (rows[-1].pk if more else None)


EXPORT_COLUMNS = (
    "id",
    "time",
    "action",
    "outcome",
    "actor_id",
    "actor",
    "actor_roles",
    "actor_kind",
    "on_behalf_of_id",
    "on_behalf_of",
    "ticket",
    "account",
    "reason",
    "ip",
    "user_agent",
    "personal_text",
    "data_text",
    "pii_commitment",
    "redacted",
    "prev_hash",
    "hash",
)


def export_rows(f: EventFilter) -> Iterator[dict[str, Any]]:
    """Matching events, oldest first, streamed through a server-side cursor. ``data_text`` is
    the exact hashed text, so an export can be checked against the chain (docs/AUDIT.md)."""
    rows = (
        filter_events(f)
        .order_by("id")
        .annotate(data_text=Cast("data", TextField()), personal_text=Cast("personal", TextField()))
        .values_list(
            "id",
            "created_at",
            "action",
            "outcome",
            "actor_id",
            "actor_label",
            "actor_roles",
            "actor_kind",
            "on_behalf_of_id",
            "on_behalf_of_label",
            "ticket_ref",
            "subject",
            "reason",
            "ip",
            "user_agent",
            "personal_text",
            "data_text",
            "pii_commitment",
            "redacted_at",
            "prev_hash",
            "hash",
        )
    )
    for row in rows.iterator(chunk_size=2000):
        values = list(row)
        values[1] = chain.iso(values[1])
        values[18] = values[18] is not None
        yield dict(zip(EXPORT_COLUMNS, values, strict=True))


KNOWN_ACTIONS = sorted(Action.values)

"""audit.search: the date window bounds the ids, and still finds exactly the window's events."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit import log, search
from audit.actions import Action
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def ten_days_of_events(monkeypatch) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    """Seven events a day for ten days, around midnight and midday, written by audit.log."""
    first = dt.datetime(2026, 3, 1, tzinfo=timezone.get_current_timezone())
    events = []
    for day in range(10):
        for minutes in (0, 1, 60 * 12, 60 * 23 + 59, 60 * 24 - 1, 60 * 24 - 1, 60 * 24 - 1):
            at = first + dt.timedelta(days=day, minutes=minutes)
            monkeypatch.setattr(timezone, "now", lambda at=at: at)
            action = Action.GRAPH_ISSUE_TAP if minutes % 2 else Action.TICKET_SUBMITTED
            events.append(log.record(action, ticket_ref=f"RP-D{day:02d}"))
    return events


def _all_pages(f: search.EventFilter) -> list[int]:
    ids: list[int] = []
    before = None
    while True:
        rows, before = search.page_of_events(f, before=before)
        ids += [e.pk for e in rows]
        if before is None:
            return ids


@pytest.mark.parametrize(
    ("date_from", "date_to", "action"),
    [
        (dt.date(2026, 3, 3), dt.date(2026, 3, 5), ""),
        (dt.date(2026, 3, 3), dt.date(2026, 3, 5), "graph."),
        (dt.date(2026, 3, 1), dt.date(2026, 3, 1), "ticket.submitted"),
        (dt.date(2026, 3, 10), None, ""),
        (None, dt.date(2026, 3, 2), "graph."),
        (dt.date(2026, 2, 1), dt.date(2026, 2, 28), ""),
        (dt.date(2026, 3, 11), None, ""),
    ],
)
def test_page_of_events_in_a_date_window_lists_exactly_the_window(
    ten_days_of_events, date_from, date_to, action
) -> None:  # type: ignore[no-untyped-def]
    # given
    f = search.EventFilter(date_from=date_from, date_to=date_to, action=action)
    local = timezone.get_current_timezone()

    def inside(e: AuditEvent) -> bool:
        day = e.created_at.astimezone(local).date()
        return (
            (date_from is None or day >= date_from)
            and (date_to is None or day <= date_to)
            and e.action.startswith(action)
        )

    expected = sorted((e.pk for e in ten_days_of_events if inside(e)), reverse=True)
    # when
    listed = _all_pages(f)
    # then
    assert listed == expected
    assert list(search.filter_events(f).order_by("-id").values_list("id", flat=True)) == expected


def test_page_of_events_in_a_date_window_pages_without_gaps_or_repeats(
    ten_days_of_events, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    # given
    monkeypatch.setattr(search, "PAGE_SIZE", 4)
    f = search.EventFilter(date_from=dt.date(2026, 3, 2), date_to=dt.date(2026, 3, 8))
    # when
    listed = _all_pages(f)
    # then
    assert len(listed) == 7 * 7
    assert listed == sorted(set(listed), reverse=True)
    assert {AuditEvent.objects.get(pk=pk).ticket_ref for pk in listed} == {
        f"RP-D{day:02d}" for day in range(1, 8)
    }

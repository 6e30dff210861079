"""tickets.queue: the open cases a staff member sees; the filter form only parses."""

from __future__ import annotations

import pytest
from django.db import connection
from django.http import QueryDict
from django.utils import timezone

from tests.factories import TicketFactory
from tickets import queue
from tickets.forms_staff import QueueFilterForm
from tickets.models import Ticket
from tickets.queue import QueueFilters

pytestmark = pytest.mark.django_db


def _queue(agent, query: str = ""):  # type: ignore[no-untyped-def]
    return queue.open_cases(agent, QueueFilterForm(QueryDict(query) or None).filters())


def test_open_cases_default_order_can_read_the_open_sla_index(agent) -> None:  # type: ignore[no-untyped-def]
    # given a few open cases, and a planner told to avoid the alternatives a tiny table invites
    TicketFactory.create_batch(5)
    with connection.cursor() as cursor:
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET LOCAL {setting} = off")
    # when
    plan = _queue(agent)[:25].explain()
    # then the open-cases predicate and the ORDER BY match the partial index, so no sort
    assert "ticket_open_sla_due" in plan
    assert "Sort" not in plan


def test_open_cases_breaks_sla_ties_by_id(agent) -> None:  # type: ignore[no-untyped-def]
    # given three cases due at the same instant, received at the same instant
    tickets = TicketFactory.create_batch(3)
    same = timezone.now()
    Ticket.objects.filter(pk__in=[t.pk for t in tickets]).update(sla_due_at=same, created_at=same)
    # when
    order = [t.pk for t in _queue(agent)]
    # then pages cannot repeat or skip one of them
    assert order == sorted(t.pk for t in tickets)


def test_open_cases_fetches_only_the_columns_a_row_shows(agent, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    # given
    TicketFactory(assigned_to=agent)
    # when
    row = _queue(agent).get()
    # then the wide columns stay in the database, and the assignee comes with the row
    assert {"directory_facts", "details", "methods_still_working"} <= row.get_deferred_fields()
    with django_assert_num_queries(0):
        assert str(row.assigned_to) == agent.get_username()


def test_queue_filter_form_parses_the_query_into_filters() -> None:
    # when
    form = QueueFilterForm(
        QueryDict("status=verified&age=4&privileged=unknown&mine=on&sort=oldest")
    )
    # then
    assert form.filters() == QueueFilters(
        status="verified", older_than_hours=4, privileged="unknown", mine=True, sort="oldest"
    )


def test_queue_filter_form_with_a_bad_value_shows_the_plain_open_queue() -> None:
    assert QueueFilterForm(QueryDict("age=999&sort=nonsense")).filters() == QueueFilters()


def test_open_cases_narrows_to_unknown_privilege_and_the_user_s_own(agent, agent2) -> None:  # type: ignore[no-untyped-def]
    # given cases of every kind of privilege, some assigned to the agent
    unknown_mine = TicketFactory(is_privileged=None, assigned_to=agent)
    TicketFactory(is_privileged=None, assigned_to=agent2)
    TicketFactory(is_privileged=False, assigned_to=agent)
    # when
    found = queue.open_cases(agent, QueueFilters(privileged="unknown", mine=True))
    # then
    assert [t.pk for t in found] == [unknown_mine.pk]


def test_open_cases_shows_nothing_to_someone_without_the_queue(outsider) -> None:  # type: ignore[no-untyped-def]
    TicketFactory()
    assert list(queue.open_cases(outsider)) == []

"""The agent queue and the auditor's event search against their baselines, in this process.

Each page is fetched through Django's test client (the whole middleware stack, sessions in
PostgreSQL, a signed-in user with a TOTP authenticator), so "server time" is the time Django
spends from request to response, without a network. The baseline view (bench.views) renders
the very rows the page shows, fetched by primary key in one query, through the same stack.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db import connection
from django.http import QueryDict
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from audit import search
from bench.common import summary_ms
from tickets import policy
from tickets.access import tickets_visible_to
from tickets.forms_staff import QueueFilterForm


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    query: dict[str, str]
    baseline: str  # "queue" or "events"


def queue_ids(user: Any, query: dict[str, str]) -> list[int]:
    """The ticket ids the queue page shows for ``query`` (the view's own queryset)."""
    params = QueryDict(urlencode(query))
    form = QueueFilterForm(params or None)
    tickets = form.apply(tickets_visible_to(user), user=user)
    page = Paginator(tickets, policy.current().queue_page_size).get_page(params.get("page"))
    return [t.pk for t in page.object_list]


def event_ids(query: dict[str, str]) -> list[int]:
    form = search.EventFilterForm(QueryDict(urlencode(query)))
    form.is_valid()
    events, _ = search.page_of_events(form.to_filter(), before=None)
    return [e.pk for e in events]


def _client(user: Any) -> Client:
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    return client


def _warm(client: Client, url: str) -> None:
    for _ in range(3):  # templates, caches, the connection
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return len(queries)


def _timed(client: Client, url: str) -> tuple[float, float]:
    """Wall time and this process's CPU time (Django's own work, whatever else runs)."""
    started, cpu = time.perf_counter(), time.process_time()
    client.get(url)
    return time.perf_counter() - started, time.process_time() - cpu


def measure(page: Page, *, user: Any, samples: int) -> dict[str, Any]:
    """p50/p95 and SQL count of the page and of its baseline, and their ratios. The two are
    fetched alternately, so that both see the same machine load."""
    with override_settings(ROOT_URLCONF="bench.urls"):
        client = _client(user)
        url = page.path + ("?" + urlencode(page.query) if page.query else "")
        ids = queue_ids(user, page.query) if page.baseline == "queue" else event_ids(page.query)
        base_path = "/bench/queue-rows/" if page.baseline == "queue" else "/bench/event-rows/"
        base_url = base_path + "?" + urlencode({"ids": ",".join(map(str, ids))})
        _warm(client, url)
        _warm(client, base_url)
        page_times, base_times = [], []
        for _ in range(samples):
            page_times.append(_timed(client, url))
            base_times.append(_timed(client, base_url))
        page_queries, base_queries = _queries(client, url), _queries(client, base_url)
    real, base = summary_ms([t[0] for t in page_times]), summary_ms([t[0] for t in base_times])
    real["cpu_p50_ms"] = summary_ms([t[1] for t in page_times])["p50_ms"]
    base["cpu_p50_ms"] = summary_ms([t[1] for t in base_times])["p50_ms"]
    return {
        "url": url,
        "rows": len(ids),
        "page": {**real, "queries": page_queries},
        "baseline": {**base, "queries": base_queries},
        "ratio_p50": round(real["p50_ms"] / base["p50_ms"], 2) if base["p50_ms"] else None,
        "ratio_p95": round(real["p95_ms"] / base["p95_ms"], 2) if base["p95_ms"] else None,
        "ratio_cpu_p50": (
            round(real["cpu_p50_ms"] / base["cpu_p50_ms"], 2) if base["cpu_p50_ms"] else None
        ),
    }


def pages(*, account: str, ticket_ref: str, date_from: str, date_to: str) -> list[Page]:
    return [
        Page("queue: open, SLA order (default)", "/staff/queue/", {}, "queue"),
        Page("queue: open, newest first", "/staff/queue/", {"sort": "newest"}, "queue"),
        Page("queue: open, page 20", "/staff/queue/", {"page": "20"}, "queue"),
        Page("audit: newest, no filter", "/audit/", {}, "events"),
        Page(
            "audit: action prefix + dates",
            "/audit/",
            {"action": "ticket.", "date_from": date_from, "date_to": date_to},
            "events",
        ),
        Page("audit: one account", "/audit/", {"account": account}, "events"),
        Page("audit: one ticket", "/audit/", {"ticket": ticket_ref}, "events"),
    ]

"""Baselines: bare views rendering the same rows as a portal page, from one indexed query.

Served only through ``bench.urls`` (the bench process's URLconf); the portal never routes here.
The ids of the rows come in the query string (the bench reads them from the real page's own
queryset first), so the baseline fetches them by primary key and renders them with a bare
template: the floor any page showing those rows has to pay, through the same middleware.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.views.decorators.http import require_GET

from audit.models import AuditEvent
from tickets.models import Ticket

_QUEUE = engines["django"].from_string(
    "<!doctype html><title>queue</title><table>{% for t in rows %}<tr>"
    "<td>{{ t.reference }}</td><td>{{ t.upn }}</td><td>{{ t.get_status_display }}</td>"
    "<td>{{ t.get_urgency_display }}</td><td>{{ t.created_at|date:'Y-m-d H:i' }}</td>"
    "<td>{{ t.assigned_to|default:'—' }}</td></tr>{% endfor %}</table>"
)
_EVENTS = engines["django"].from_string(
    "<!doctype html><title>events</title><table>{% for e in rows %}<tr>"
    "<td>{{ e.pk }}</td><td>{{ e.created_at|date:'Y-m-d H:i:s' }}</td><td>{{ e.action }}</td>"
    "<td>{{ e.outcome }}</td><td>{{ e.actor_label }}</td><td>{{ e.ticket_ref }}</td>"
    "<td>{{ e.subject }}</td><td>{{ e.reason|truncatechars:80 }}</td></tr>{% endfor %}</table>"
)


def _ids(request: HttpRequest) -> list[int]:
    return [int(v) for v in request.GET.get("ids", "").split(",") if v.isdigit()]


@require_GET
def queue_rows(request: HttpRequest) -> HttpResponse:
    ids = _ids(request)
    found = Ticket.objects.select_related("assigned_to").in_bulk(ids)
    rows = [found[i] for i in ids if i in found]
    return HttpResponse(_QUEUE.render({"rows": rows}, request))


@require_GET
def event_rows(request: HttpRequest) -> HttpResponse:
    ids = _ids(request)
    found = AuditEvent.objects.in_bulk(ids)
    rows = [found[i] for i in ids if i in found]
    return HttpResponse(_EVENTS.render({"rows": rows}, request))

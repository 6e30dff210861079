"""The auditor workspace: read-only pages and streamed exports. Every view is GET only."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator

from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from audit import charts, log, reports, search, timeline
from audit.actions import Action
from audit.models import AuditEvent

VIEW = "audit.view_audit_trail"
EXPORT = "audit.export_audit_trail"


def _require(request: HttpRequest, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied(_("Your role does not include this part of the audit trail."))


def _before(request: HttpRequest) -> int | None:
    value = request.GET.get("before", "")
    return int(value) if value.isdigit() else None


@require_GET
def audit_home(request: HttpRequest) -> HttpResponse:
    """Search the events, newest first, a page at a time."""
    _require(request, VIEW)
    form = search.EventFilterForm(request.GET)
    events: list[AuditEvent] = []
    older = None
    if form.is_valid():
        events, next_before = search.page_of_events(form.to_filter(), before=_before(request))
        if next_before is not None:
            query = request.GET.copy()
            query["before"] = str(next_before)
            older = query.urlencode()
    filters = request.GET.copy()
    filters.pop("before", None)
    context = {
        "form": form,
        "events": events,
        "older": older,
        "filters": filters.urlencode(),
        "known_actions": search.KNOWN_ACTIONS,
        "can_export": request.user.has_perm(EXPORT),
    }
    return render(request, "audit/home.html", context)


@require_GET
def ticket_timeline(request: HttpRequest, ref: str) -> HttpResponse:
    """One case, told as its documentation record, then event by event."""
    _require(request, VIEW)
    events = list(AuditEvent.objects.filter(ticket_ref=ref.upper()).order_by("id"))
    if not events:
        raise Http404(_("No audit events for this reference."))
    case = timeline.case_record(ref.upper(), events)
    return render(request, "audit/timeline.html", {"case": case})


def _export_filter(request: HttpRequest, fmt: str) -> search.EventFilter | None:
    _require(request, EXPORT)
    form = search.EventFilterForm(request.GET)
    if not form.is_valid():
        return None
    f = form.to_filter()
    # The export is on the record before a single row leaves.
    described = f.described()
    account = described.pop("account", "")
    log.record(
        Action.AUDIT_EXPORTED,
        request=request,
        ticket_ref="",
        data={"format": fmt, "filters": described},
        personal={"account": account} if account else None,
    )
    return f


def _filename(fmt: str) -> str:
    return f"audit-{timezone.now():%Y%m%d-%H%M%S}.{fmt}"


class _Line:
    def write(self, value: str) -> str:
        return value


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    # A spreadsheet would run a cell starting like a formula; the apostrophe keeps it text.
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv_lines(f: search.EventFilter) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(search.EXPORT_COLUMNS)  # type: ignore[func-returns-value]
    for row in search.export_rows(f):
        yield writer.writerow([_cell(v) for v in row.values()])  # type: ignore[func-returns-value]


def _json_lines(f: search.EventFilter) -> Iterator[str]:
    yield "["
    separator = "\n"
    for row in search.export_rows(f):
        yield separator + json.dumps(row, sort_keys=True)
        separator = ",\n"
    yield "\n]\n"


_BAD_FILTERS = "These filters are not valid."


@require_GET
def export_csv(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    f = _export_filter(request, "csv")
    if f is None:
        return HttpResponseBadRequest(_(_BAD_FILTERS))
    response = StreamingHttpResponse(_csv_lines(f), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename("csv")}"'
    return response


@require_GET
def export_json(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    f = _export_filter(request, "json")
    if f is None:
        return HttpResponseBadRequest(_(_BAD_FILTERS))
    response = StreamingHttpResponse(_json_lines(f), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{_filename("json")}"'
    return response


def _report_range(request: HttpRequest) -> tuple[dt.date, dt.date]:
    today = timezone.localdate()
    try:
        end = dt.date.fromisoformat(request.GET.get("to", "")) if request.GET.get("to") else today
        start = (
            dt.date.fromisoformat(request.GET["from"])
            if request.GET.get("from")
            else end - dt.timedelta(days=29)
        )
    except ValueError:
        start, end = today - dt.timedelta(days=29), today
    if start > end or (end - start).days > 366:
        start = end - dt.timedelta(days=29)
    return start, end


@require_GET
def audit_reports(request: HttpRequest) -> HttpResponse:
    """The dashboard: figures and server-drawn SVG charts for a range of days."""
    _require(request, VIEW)
    start, end = _report_range(request)
    board = reports.dashboard(start=start, end=end)
    context = {
        "board": board,
        "per_day": charts.columns([(f"{d:%d}", n) for d, n in board.requests_per_day]),
        "outcomes": charts.rows(board.outcomes),
        "deflections": charts.rows(board.deflections),
    }
    return render(request, "audit/reports.html", context)

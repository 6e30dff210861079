"""The dashboard's figures match the events they summarise."""

from __future__ import annotations

import re
import statistics

import pytest
from django.utils import timezone

from audit import charts, log, reports
from audit.actions import Action
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def month(agent, approver):  # type: ignore[no-untyped-def]
    for ref in ("RP-A", "RP-B", "RP-C"):
        log.record(Action.TICKET_SUBMITTED, ticket_ref=ref, subject=f"{ref}@contoso.example")
    log.record(Action.DIRECTORY_CHECKED, ticket_ref="RP-A", data={"privileged": True})
    log.record(Action.IDENTITY_VERIFIED, actor=agent, ticket_ref="RP-A", data={"method": "video"})
    log.record(Action.TICKET_APPROVED, actor=approver, ticket_ref="RP-A")
    log.record(
        Action.GRAPH_ISSUE_TAP,
        actor=log.SYSTEM,
        on_behalf_of=approver,
        ticket_ref="RP-A",
        data={"kind": "issue_tap"},
    )
    log.record(Action.TICKET_RESTORED, ticket_ref="RP-A")
    # RP-B: the same person verified and approved (the exception the report must show)
    log.record(
        Action.IDENTITY_VERIFIED, actor=agent, ticket_ref="RP-B", data={"method": "callback"}
    )
    log.record(Action.TICKET_APPROVED, actor=agent, ticket_ref="RP-B")
    log.record(Action.GRAPH_ISSUE_TAP, ticket_ref="RP-B", data={"kind": "issue_tap"})
    log.record(Action.TICKET_RESTORED, ticket_ref="RP-B")
    log.record(Action.SOD_REFUSED, actor=agent, ticket_ref="RP-C", outcome="denied")
    log.record(Action.TICKET_CLOSED, ticket_ref="RP-C", reason="Identity not verified.")
    # a failed TAP for a privileged account is not an issued one
    log.record(
        Action.GRAPH_ISSUE_TAP, ticket_ref="RP-D", outcome="failure", data={"privileged": True}
    )
    for path in ("authenticator-backup", "authenticator-backup", "new-phone"):
        log.record(Action.TRIAGE_DEFLECTED, data={"path": path})


def _seconds_between(ref: str) -> float:
    times = dict(
        AuditEvent.objects.filter(
            ticket_ref=ref, action__in=[Action.TICKET_SUBMITTED, Action.TICKET_RESTORED]
        ).values_list("action", "created_at")
    )
    return (times[Action.TICKET_RESTORED] - times[Action.TICKET_SUBMITTED]).total_seconds()


def test_dashboard_figures_match_the_events(month) -> None:  # type: ignore[no-untyped-def]
    # given (fixture) / when
    today = timezone.localdate()
    board = reports.dashboard(start=today.replace(day=1), end=today)
    # then
    assert board.requests_per_day[-1] == (today, 3) and board.requests_total == 3
    assert dict(board.outcomes) == {"Access restored": 2, "Closed": 1, "Frozen": 0}
    assert board.deflections == [("authenticator-backup", 2), ("new-phone", 1)]
    durations = [_seconds_between("RP-A"), _seconds_between("RP-B")]
    assert board.restoration.cases == 2
    assert board.restoration.median.total_seconds() == round(statistics.median(durations))
    low, high = sorted(durations)
    assert board.restoration.p90.total_seconds() == round(low + 0.9 * (high - low))
    assert board.sod_exceptions == ["RP-B"] and board.sod_refusals == 1
    # the worker issued it; the report names the person it did so for
    assert [(t.ticket_ref, t.actor) for t in board.privileged_taps] == [("RP-A", "approver")]


def test_dashboard_of_an_empty_trail_is_all_zeros(db) -> None:  # type: ignore[no-untyped-def]
    today = timezone.localdate()
    board = reports.dashboard(start=today, end=today)
    assert board.requests_per_day == [(today, 0)] and board.deflections == []
    assert board.restoration == reports.Restoration(0, None, None)
    assert board.sod_exceptions == [] and board.privileged_taps == []


def test_dashboard_leaves_out_days_outside_the_range(month) -> None:  # type: ignore[no-untyped-def]
    today = timezone.localdate()
    board = reports.dashboard(
        start=today.replace(year=today.year - 1), end=today.replace(year=today.year - 1)
    )
    assert board.requests_total == 0 and board.restoration.cases == 0


def test_reports_page_draws_svg_charts_without_inline_style_or_script(
    mfa_client, auditor, month
) -> None:  # type: ignore[no-untyped-def]
    # when
    response = mfa_client(auditor).get("/audit/reports/")
    body = response.content.decode()
    # then charts are there, as SVG with attributes only, under the strict CSP
    assert response.status_code == 200
    assert body.count('<svg class="chart"') == 3
    assert '<rect class="bar"' in body
    assert "style=" not in body
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", body))
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert re.search(r'id="fig-sod"><span class="value">1<', body)


def test_reports_page_ignores_a_malformed_range(mfa_client, auditor) -> None:  # type: ignore[no-untyped-def]
    response = mfa_client(auditor).get("/audit/reports/", {"from": "yesterday", "to": "x"})
    assert response.status_code == 200
    assert len(response.context["board"].requests_per_day) == 30


def test_column_chart_heights_are_proportional_to_values() -> None:
    chart = charts.columns([("a", 1), ("b", 4), ("c", 0)])
    a, b, c = chart.bars
    assert b.height == pytest.approx(4 * a.height) and c.height == 0
    assert a.y + a.height == pytest.approx(chart.axis_y)
    assert not chart.empty and charts.columns([("z", 0)]).empty

"""Figures for helpdesk leads and auditors, from the audit events alone (audit reads no other
module's tables). Each figure is one SQL query over an indexed range; a figure whose events
nobody records yet is simply zero or empty."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.utils import timezone

from audit import actions
from audit.actions import Action


@dataclass(frozen=True)
class Restoration:
    cases: int
    median: dt.timedelta | None
    p90: dt.timedelta | None


@dataclass(frozen=True)
class PrivilegedTap:
    ticket_ref: str
    when: dt.datetime
    actor: str


@dataclass
class Dashboard:
    start: dt.date
    end: dt.date  # inclusive
    requests_per_day: list[tuple[dt.date, int]] = field(default_factory=list)
    outcomes: list[tuple[str, int]] = field(default_factory=list)
    deflections: list[tuple[str, int]] = field(default_factory=list)
    restoration: Restoration = Restoration(0, None, None)
    sod_exceptions: list[str] = field(default_factory=list)
    sod_refusals: int = 0
    privileged_taps: list[PrivilegedTap] = field(default_factory=list)

    @property
    def requests_total(self) -> int:
        return sum(n for _, n in self.requests_per_day)


def _fetch(sql: str, params: Mapping[str, Any]) -> list[tuple]:  # type: ignore[type-arg]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _requests_per_day(p: dict[str, object], start: dt.date, end: dt.date) -> list[tuple]:  # type: ignore[type-arg]
    rows = _fetch(
        "SELECT (created_at AT TIME ZONE %(tz)s)::date, count(*) FROM audit_auditevent"
        " WHERE action = %(submitted)s"
        "   AND created_at >= %(start)s AND created_at < %(end)s GROUP BY 1",
        {**p, "submitted": Action.TICKET_SUBMITTED},
    )
    counts = dict(rows)
    days = (end - start).days + 1
    return [(d, counts.get(d, 0)) for d in (start + dt.timedelta(n) for n in range(days))]


def _outcomes(p: dict[str, object]) -> list[tuple[str, int]]:
    rows = dict(
        _fetch(
            "SELECT action, count(DISTINCT ticket_ref) FROM audit_auditevent"
            " WHERE action = ANY(%(outcomes)s)"
            "   AND created_at >= %(start)s AND created_at < %(end)s GROUP BY action",
            {**p, "outcomes": actions.values(actions.OUTCOME_ACTIONS)},
        )
    )
    return [(actions.label(a), rows.get(a, 0)) for a in actions.OUTCOME_ACTIONS]


def _deflections(p: dict[str, object]) -> list[tuple[str, int]]:
    return [
        (str(path), int(n))
        for path, n in _fetch(
            "SELECT coalesce(nullif(data->>'path', ''), '?'), count(*) FROM audit_auditevent"
            " WHERE action = %(deflected)s"
            "   AND created_at >= %(start)s AND created_at < %(end)s"
            " GROUP BY 1 ORDER BY 2 DESC, 1",
            {**p, "deflected": Action.TRIAGE_DEFLECTED},
        )
    ]


_RESTORATION = """
WITH restored AS (
  SELECT ticket_ref, min(created_at) AS at FROM audit_auditevent
   WHERE action = %(restored)s AND ticket_ref <> ''
     AND created_at >= %(start)s AND created_at < %(end)s
   GROUP BY ticket_ref),
submitted AS (
  SELECT e.ticket_ref, min(e.created_at) AS at FROM audit_auditevent e
    JOIN restored r ON r.ticket_ref = e.ticket_ref
   WHERE e.action = %(submitted)s GROUP BY e.ticket_ref)
SELECT count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.at - s.at)),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM r.at - s.at))
  FROM restored r JOIN submitted s ON s.ticket_ref = r.ticket_ref
"""


def _restoration(p: dict[str, object]) -> Restoration:
    cases, median, p90 = _fetch(
        _RESTORATION,
        {**p, "restored": Action.TICKET_RESTORED, "submitted": Action.TICKET_SUBMITTED},
    )[0]

    def seconds(value: float | None) -> dt.timedelta | None:
        return None if value is None else dt.timedelta(seconds=round(float(value)))

    return Restoration(int(cases), seconds(median), seconds(p90))


def _sod_exceptions(p: dict[str, object]) -> list[str]:
    """Cases approved in the range by someone who also verified the identity."""
    rows = _fetch(
        "SELECT DISTINCT a.ticket_ref FROM audit_auditevent a JOIN audit_auditevent v"
        "  ON v.ticket_ref = a.ticket_ref AND v.action = %(verified)s AND v.actor_id = a.actor_id"
        " WHERE a.action = %(approved)s AND a.ticket_ref <> '' AND a.created_at >= %(start)s"
        "   AND a.created_at < %(end)s ORDER BY 1",
        {**p, "verified": Action.IDENTITY_VERIFIED, "approved": Action.TICKET_APPROVED},
    )
    return [ref for (ref,) in rows]


def _sod_refusals(p: dict[str, object]) -> int:
    return int(
        _fetch(
            "SELECT count(*) FROM audit_auditevent WHERE action = %(refused)s"
            "   AND created_at >= %(start)s AND created_at < %(end)s",
            {**p, "refused": Action.SOD_REFUSED},
        )[0][0]
    )


def _privileged_taps(p: dict[str, object]) -> list[PrivilegedTap]:
    rows = _fetch(
        "SELECT t.ticket_ref, t.created_at, coalesce(nullif(t.actor_label, ''),"
        " t.on_behalf_of_label) FROM audit_auditevent t"
        " WHERE t.action = %(tap)s AND t.outcome = 'success'"
        "   AND t.created_at >= %(start)s AND t.created_at < %(end)s"
        "   AND (t.data->>'privileged' = 'true' OR (t.ticket_ref <> '' AND EXISTS ("
        "        SELECT 1 FROM audit_auditevent f WHERE f.ticket_ref = t.ticket_ref"
        "           AND f.data->>'privileged' = 'true')))"
        " ORDER BY t.id",
        {**p, "tap": Action.GRAPH_ISSUE_TAP},
    )
    return [PrivilegedTap(ref, when, actor) for ref, when, actor in rows]


def dashboard(*, start: dt.date, end: dt.date) -> Dashboard:
    """Every figure for the days ``start``..``end`` (inclusive, in the portal's time zone)."""
    tz = timezone.get_current_timezone()
    params: dict[str, object] = {
        "start": dt.datetime.combine(start, dt.time.min, tzinfo=tz),
        "end": dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz),
        "tz": str(tz),
    }
    return Dashboard(
        start=start,
        end=end,
        requests_per_day=_requests_per_day(params, start, end),
        outcomes=_outcomes(params),
        deflections=_deflections(params),
        restoration=_restoration(params),
        sod_exceptions=_sod_exceptions(params),
        sod_refusals=_sod_refusals(params),
        privileged_taps=_privileged_taps(params),
    )

"""The auditor workspace: search, timeline, exports, reports — and who may open them."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json

import pytest
from django.utils import timezone

from audit import log
from audit.actions import Action
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db

PAGES = ["/audit/", "/audit/tickets/RP-DONE01/", "/audit/reports/"]
EXPORTS = ["/audit/export.csv", "/audit/export.json"]


def _body(response) -> str:  # type: ignore[no-untyped-def]
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


# --- who may open what --------------------------------------------------------------------


@pytest.mark.parametrize("url", PAGES + EXPORTS)
def test_audit_views_open_for_the_auditor(mfa_client, auditor, completed_case, url) -> None:  # type: ignore[no-untyped-def]
    assert mfa_client(auditor).get(url).status_code == 200


@pytest.mark.parametrize("url", PAGES)
def test_audit_pages_open_for_a_security_officer(mfa_client, security, completed_case, url) -> None:  # type: ignore[no-untyped-def]
    assert mfa_client(security).get(url).status_code == 200


@pytest.mark.parametrize("url", EXPORTS)
def test_exports_are_forbidden_to_a_security_officer(
    mfa_client, security, completed_case, url
) -> None:  # type: ignore[no-untyped-def]
    # given view-only access
    response = mfa_client(security).get(url)
    # then no export, and nothing recorded as exported
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action=Action.AUDIT_EXPORTED).exists()


@pytest.mark.parametrize("url", PAGES + EXPORTS)
def test_audit_views_are_forbidden_to_an_agent(mfa_client, agent, completed_case, url) -> None:  # type: ignore[no-untyped-def]
    assert mfa_client(agent).get(url).status_code == 403


@pytest.mark.parametrize("url", PAGES + EXPORTS)
def test_audit_views_are_forbidden_to_an_outsider(
    mfa_client, outsider, completed_case, url
) -> None:  # type: ignore[no-untyped-def]
    assert mfa_client(outsider).get(url).status_code == 403


@pytest.mark.parametrize("url", PAGES + EXPORTS)
def test_audit_views_send_anonymous_to_sign_in(client, completed_case, url) -> None:  # type: ignore[no-untyped-def]
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", PAGES + EXPORTS)
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_audit_views_refuse_anything_but_get(
    mfa_client, auditor, completed_case, url, method
) -> None:  # type: ignore[no-untyped-def]
    assert getattr(mfa_client(auditor), method)(url).status_code == 405


def test_timeline_of_an_unknown_reference_is_not_found(mfa_client, auditor) -> None:  # type: ignore[no-untyped-def]
    assert mfa_client(auditor).get("/audit/tickets/RP-NOSUCH/").status_code == 404


# --- search ---------------------------------------------------------------------------------


def _listed_ids(response) -> list[int]:  # type: ignore[no-untyped-def]
    return [e.pk for e in response.context["events"]]


def test_search_lists_newest_first(mfa_client, auditor, completed_case) -> None:  # type: ignore[no-untyped-def]
    response = mfa_client(auditor).get("/audit/")
    ids = _listed_ids(response)
    assert ids == sorted(ids, reverse=True) and len(ids) == AuditEvent.objects.count()
    assert "RP-DONE01" in response.content.decode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            {"account": "MARIO.ROSSI@contoso.example"},
            lambda e: e.subject == "mario.rossi@contoso.example",
        ),
        ({"staff": "agent"}, lambda e: e.actor_label == "agent"),
        # the approver's own actions and the system's on their behalf
        ({"staff": "approver"}, lambda e: "approver" in (e.actor_label, e.on_behalf_of_label)),
        ({"actor_kind": "system"}, lambda e: e.actor_kind == "system"),
        ({"actor_kind": "public"}, lambda e: e.actor_kind == "public"),
        ({"action": "ticket.approved"}, lambda e: e.action == "ticket.approved"),
        ({"action": "graph."}, lambda e: e.action.startswith("graph.")),
        ({"outcome": "failure"}, lambda e: e.outcome == "failure"),
        ({"ticket": "rp-other"}, lambda e: e.ticket_ref == "RP-OTHER"),
    ],
)
def test_search_filters_match_exactly_the_events_they_describe(
    mfa_client, auditor, completed_case, query, expected
) -> None:  # type: ignore[no-untyped-def]
    # given the completed case plus unrelated events
    log.record(Action.TICKET_SUBMITTED, ticket_ref="RP-OTHER", subject="eve@contoso.example")
    log.record(Action.GRAPH_ISSUE_TAP, ticket_ref="RP-OTHER", outcome="failure")
    # when
    response = mfa_client(auditor).get("/audit/", query)
    # then
    wanted = sorted((e.pk for e in AuditEvent.objects.all() if expected(e)), reverse=True)
    assert wanted and _listed_ids(response) == wanted


def test_search_by_date_range_is_inclusive_of_both_days(
    mfa_client, auditor, completed_case
) -> None:  # type: ignore[no-untyped-def]
    today = timezone.localdate()
    client = mfa_client(auditor)
    inside = client.get("/audit/", {"date_from": today.isoformat(), "date_to": today.isoformat()})
    before = client.get("/audit/", {"date_to": (today - dt.timedelta(days=1)).isoformat()})
    assert len(_listed_ids(inside)) == AuditEvent.objects.count()
    assert _listed_ids(before) == []


def test_search_with_an_inverted_range_shows_the_error_and_nothing_else(
    mfa_client, auditor, completed_case
) -> None:  # type: ignore[no-untyped-def]
    response = mfa_client(auditor).get(
        "/audit/", {"date_from": "2026-02-02", "date_to": "2026-02-01"}
    )
    assert response.status_code == 200
    assert _listed_ids(response) == []
    assert "start date is after the end date" in response.content.decode()


def test_search_pages_by_id_without_gaps_or_repeats(mfa_client, auditor) -> None:  # type: ignore[no-untyped-def]
    # given 120 events
    for n in range(120):
        log.record(Action.LINK_USED, ticket_ref=f"RP-{n:04d}")
    client = mfa_client(auditor)
    # when following the "older" links
    seen: list[int] = []
    query: dict[str, str] = {}
    while True:
        response = client.get("/audit/", query)
        seen += _listed_ids(response)
        if not response.context["older"]:
            break
        query = {"before": response.context["older"].split("before=")[1]}
    # then every event once, newest first
    assert seen == sorted(AuditEvent.objects.values_list("id", flat=True), reverse=True)


def test_search_query_count_does_not_grow_with_rows(
    mfa_client, auditor, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    client = mfa_client(auditor)
    log.record(Action.LINK_USED)
    client.get("/audit/")
    with django_assert_num_queries(6) as few:
        client.get("/audit/")
    for _ in range(60):
        log.record(Action.LINK_USED, ticket_ref="RP-X")
    with django_assert_num_queries(len(few.captured_queries)):
        client.get("/audit/", {"ticket": "RP-X"})


def test_timeline_query_count_does_not_grow_with_events(
    mfa_client, auditor, completed_case, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    client = mfa_client(auditor)
    client.get(f"/audit/tickets/{completed_case}/")
    with django_assert_num_queries(6) as few:
        client.get(f"/audit/tickets/{completed_case}/")
    for _ in range(30):
        log.record(Action.LINK_USED, ticket_ref=completed_case)
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(f"/audit/tickets/{completed_case}/")


# --- timeline -------------------------------------------------------------------------------


def test_timeline_reads_like_the_documentation_rule(mfa_client, auditor, completed_case) -> None:  # type: ignore[no-untyped-def]
    # when
    response = mfa_client(auditor).get(f"/audit/tickets/{completed_case}/")
    # then who asked, who verified and how, who confirmed, who approved, what Graph did, when
    case = response.context["case"]
    assert case.account == "mario.rossi@contoso.example" and case.requester_name == "Mario Rossi"
    assert case.why == "Phone stolen on the train" and case.what_happened == "stolen"
    assert [(s.who, s.how) for s in case.verified] == [("agent", "video")]
    assert [s.who for s in case.confirmed] == ["anna.bianchi@contoso.example"]
    assert [s.who for s in case.approved] == ["approver"]
    assert len(case.graph) == 2  # the TAP issued, then shown once to its owner
    # by the worker for the approver, then to the requester (not signed in)
    assert [s.who for s in case.graph] == ["System (on behalf of approver)", "Not signed in"]
    assert "issue_tap · success · operation 41 · Graph request 5b0c7a52" in case.graph[0].how
    assert case.restored_at is not None and case.time_to_restore is not None
    body = response.content.decode()
    for heading in ("Requested by", "Identity verified by, and how", "Confirmed by", "Approved by"):
        assert heading in body
    assert "What Graph did" in body and "Access restored" in body
    assert "System (on behalf of approver)" in body


def test_timeline_of_a_purged_case_says_so_and_keeps_who_did_what(
    mfa_client, auditor, completed_case
) -> None:  # type: ignore[no-untyped-def]
    from audit import retention

    retention.purge_personal_data(days=1, now=timezone.now() + dt.timedelta(days=2))
    response = mfa_client(auditor).get(f"/audit/tickets/{completed_case}/")
    body = response.content.decode()
    assert "mario.rossi" not in body and "Mario Rossi" not in body
    assert "purged under the retention policy" in body
    assert [s.who for s in response.context["case"].approved] == ["approver"]


# --- exports --------------------------------------------------------------------------------


def test_csv_export_streams_exactly_the_filtered_events_and_is_itself_audited(
    mfa_client, auditor, completed_case
) -> None:  # type: ignore[no-untyped-def]
    # given an unrelated case
    log.record(Action.TICKET_SUBMITTED, ticket_ref="RP-OTHER", subject="eve@contoso.example")
    # when
    response = mfa_client(auditor).get("/audit/export.csv", {"ticket": completed_case})
    # then a streamed attachment
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(_body(response))))
    expected = list(AuditEvent.objects.filter(ticket_ref=completed_case).order_by("id"))
    assert [int(r["id"]) for r in rows] == [e.pk for e in expected]
    # and every row can be checked against the chain by itself, as docs/AUDIT.md says
    kinds = {row["actor_kind"] for row in rows}
    assert kinds == {"person", "public", "system"}
    for row in rows:
        assert _hash_from_export_row(row) == row["hash"]
    # and the export is on the record, with its filters
    export = AuditEvent.objects.get(action=Action.AUDIT_EXPORTED)
    assert export.actor_label == "auditor"
    assert export.data == {"format": "csv", "filters": {"ticket": completed_case}}


def test_json_export_matches_the_csv_filters(mfa_client, auditor, completed_case) -> None:  # type: ignore[no-untyped-def]
    response = mfa_client(auditor).get("/audit/export.json", {"staff": "agent"})
    assert response.streaming and response["Content-Type"] == "application/json"
    rows = json.loads(_body(response))
    expected = AuditEvent.objects.filter(actor_label="agent").order_by("id")
    assert [r["id"] for r in rows] == [e.pk for e in expected]
    assert {r["actor"] for r in rows} == {"agent"}
    assert AuditEvent.objects.get(action=Action.AUDIT_EXPORTED).data["format"] == "json"


def test_export_of_an_account_keeps_the_account_out_of_the_permanent_record(
    mfa_client, auditor, completed_case
) -> None:  # type: ignore[no-untyped-def]
    mfa_client(auditor).get("/audit/export.csv", {"account": "mario.rossi@contoso.example"})
    export = AuditEvent.objects.get(action=Action.AUDIT_EXPORTED)
    assert "mario" not in json.dumps(export.data)
    assert export.personal == {"account": "mario.rossi@contoso.example"}


def test_export_with_invalid_filters_is_refused_and_not_recorded(mfa_client, auditor) -> None:  # type: ignore[no-untyped-def]
    response = mfa_client(auditor).get("/audit/export.csv", {"date_from": "not-a-date"})
    assert response.status_code == 400
    assert not AuditEvent.objects.filter(action=Action.AUDIT_EXPORTED).exists()


def test_csv_export_defuses_spreadsheet_formulas(mfa_client, auditor) -> None:  # type: ignore[no-untyped-def]
    log.record(Action.TICKET_SUBMITTED, ticket_ref="RP-F", reason='=HYPERLINK("http://evil")')
    rows = list(csv.DictReader(io.StringIO(_body(mfa_client(auditor).get("/audit/export.csv")))))
    assert rows[0]["reason"] == '\'=HYPERLINK("http://evil")'


def _hash_from_export_row(row: dict[str, str]) -> str:
    """The event's hash from its CSV row alone, re-implemented from docs/AUDIT.md."""

    def number(text: str) -> int | None:
        return int(text) if text else None

    head = [row["time"], row["action"], row["outcome"]]
    actor = [number(row["actor_id"]), row["actor"], row["actor_roles"]]
    tail = [row["ticket"], row["data_text"], row["pii_commitment"]]
    if row["actor_kind"]:
        behalf = [number(row["on_behalf_of_id"]), row["on_behalf_of"]]
        content = ["rp-audit/2", *head, row["actor_kind"], *actor, *behalf, *tail]
    else:
        content = ["rp-audit/1", *head, *actor, *tail]
    body = json.dumps(content, separators=(",", ":"))
    return hashlib.sha256(f"{row['prev_hash']}\n{body}".encode()).hexdigest()

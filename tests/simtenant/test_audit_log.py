"""The simulated tenant's directory audit log, read over HTTP as a Graph client reads it."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from graphops.credential import MsalCredential
from simtenant import defaults
from tests.conftest import wait_until

pytestmark = pytest.mark.django_db
MARIO = "mario.rossi@contoso.example"
DAVID = "david.chen@contoso.example"
AUDITS = "/auditLogs/directoryAudits"


def _graph(simtenant, method: str, path: str, **kw: Any) -> requests.Response:  # type: ignore[no-untyped-def]
    session = requests.Session()
    session.trust_env = False
    token = MsalCredential().get_token("https://graph.microsoft.com/.default").token
    headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
    url = path if path.startswith("http") else f"{simtenant.url}/v1.0{path}"
    return session.request(method, url, headers=headers, timeout=10, **kw)


def _entries(simtenant, **params: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    answer = _graph(simtenant, "GET", AUDITS, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["value"]  # type: ignore[no-any-return]


def test_audit_log_records_a_tap_the_app_issued_with_its_client_request_id(simtenant):
    # given
    path = f"/users/{MARIO}/authentication/temporaryAccessPassMethods"
    # when
    answer = _graph(simtenant, "POST", path, json={}, headers={"client-request-id": "op-1"})
    # then
    assert answer.status_code == 201
    [entry] = _entries(simtenant)
    assert entry["activityDisplayName"] == "Admin registered security info"
    assert entry["resultReason"] == "Admin registered temporary access pass method for user"
    assert entry["loggedByService"] == "Authentication Methods"
    assert entry["correlationId"] == "op-1"
    assert entry["initiatedBy"]["user"] is None
    assert entry["initiatedBy"]["app"]["appId"] == defaults.SIM_CLIENT_ID
    assert entry["targetResources"][0]["userPrincipalName"] == MARIO
    assert entry["activityDateTime"].endswith("Z") and len(entry["activityDateTime"]) == 28


def test_audit_log_correlates_by_the_request_id_when_set_so(simtenant):
    # given
    simtenant.audit_log_settings(correlation="request-id")
    # when
    answer = _graph(simtenant, "POST", f"/users/{MARIO}/revokeSignInSessions")
    # then
    [entry] = _entries(simtenant)
    assert entry["activityDisplayName"] == "Invalidate all refresh tokens for user"
    assert entry["correlationId"] == answer.headers["request-id"]


def test_audit_log_names_the_administrator_for_a_change_in_the_admin_center(simtenant):
    # when
    made = simtenant.as_admin("issue_tap", MARIO)
    # then
    [entry] = _entries(simtenant)
    assert entry["id"] == made["event_id"]
    assert entry["initiatedBy"]["app"] is None
    assert entry["initiatedBy"]["user"]["userPrincipalName"] == DAVID
    assert simtenant.user(MARIO)["tap"]["id"] == made["tap_id"]


def test_audit_log_records_the_users_own_registration(simtenant):
    # when
    simtenant.register_method(MARIO, "microsoftAuthenticator", displayName="Pixel 9")
    # then
    [entry] = _entries(simtenant)
    assert entry["activityDisplayName"] == "User registered security info"
    assert entry["resultReason"] == "User registered Authenticator App"
    assert entry["initiatedBy"]["user"]["userPrincipalName"] == MARIO


def test_audit_log_group_membership_names_the_group_and_the_member(simtenant):
    # when
    simtenant.as_admin("add_member", MARIO, group_id=defaults.SIM_EXCLUSION_GROUP_ID)
    # then
    [entry] = _entries(simtenant)
    assert entry["activityDisplayName"] == "Add member to group"
    kinds = {t["type"]: t for t in entry["targetResources"]}
    assert kinds["Group"]["id"] == defaults.SIM_EXCLUSION_GROUP_ID
    assert kinds["User"]["userPrincipalName"] == MARIO


def test_audit_log_pages_with_next_links_and_keeps_the_filter(simtenant):
    # given: five entries, pages of two
    simtenant.audit_log_settings(page_size=2)
    for _ in range(5):
        simtenant.as_admin("revoke_sessions", MARIO)
    # when
    pages, url = [], f"{simtenant.url}/v1.0{AUDITS}?$orderby=activityDateTime asc&$top=1000"
    while url:
        body = _graph(simtenant, "GET", url).json()
        pages.append(body["value"])
        url = body.get("@odata.nextLink")
    # then
    assert [len(p) for p in pages] == [2, 2, 1]
    listed = [e["activityDateTime"] for p in pages for e in p]
    assert listed == sorted(listed)
    assert len({e["id"] for p in pages for e in p}) == 5


def test_audit_log_filters_on_time_activity_and_target(simtenant):
    # given
    simtenant.as_admin("revoke_sessions", DAVID)
    made = simtenant.as_admin("issue_tap", MARIO)
    since = next(e for e in simtenant.audit_log() if e["id"] == made["event_id"])
    mario_id = simtenant.user(MARIO)["id"]
    # when
    by_time = _entries(simtenant, **{"$filter": f"activityDateTime ge {since['activityDateTime']}"})
    by_activity = _entries(
        simtenant, **{"$filter": "activityDisplayName eq 'Admin registered security info'"}
    )
    by_target = _entries(simtenant, **{"$filter": f"targetResources/any(t: t/id eq '{mario_id}')"})
    # then
    assert made["event_id"] in [e["id"] for e in by_time]
    assert all(e["activityDateTime"] >= since["activityDateTime"] for e in by_time)
    assert len(by_time) < len(simtenant.audit_log())
    assert [e["id"] for e in by_activity] == [made["event_id"]]
    assert [e["id"] for e in by_target] == [made["event_id"]]


def test_audit_log_refuses_what_it_cannot_filter(simtenant):
    # when
    answer = _graph(
        simtenant, "GET", AUDITS, params={"$filter": "category eq 'A' or category eq 'B'"}
    )
    # then
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BadRequest"


def test_audit_log_lists_an_entry_only_after_its_delay(simtenant):
    # given
    simtenant.audit_log_settings(late_next=1, late_by_seconds=2)
    # when
    simtenant.as_admin("revoke_sessions", MARIO)
    # then
    assert _entries(simtenant) == []
    assert wait_until(lambda: _entries(simtenant), timeout=10, what="the late entry")


def test_audit_log_can_list_an_entry_twice(simtenant):
    # given
    simtenant.audit_log_settings(duplicate_next=1)
    # when
    simtenant.as_admin("revoke_sessions", MARIO)
    # then
    listed = _entries(simtenant)
    assert len(listed) == 2 and listed[0]["id"] == listed[1]["id"]


def test_audit_log_needs_its_permission_and_a_premium_tenant(simtenant):
    # given
    simtenant.audit_log_settings(premium=False)
    # when
    no_licence = _graph(simtenant, "GET", AUDITS)
    simtenant.withhold("AuditLog.Read.All")
    no_permission = _graph(simtenant, "GET", AUDITS)
    # then
    assert no_licence.status_code == 403
    assert (
        no_licence.json()["error"]["code"]
        == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
    )
    assert no_permission.status_code == 403
    assert no_permission.json()["error"]["code"] == "Authorization_RequestDenied"

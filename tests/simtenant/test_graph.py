"""The simulated tenant's own rules, seen over HTTP as Graph clients see them."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from graphops.credential import MsalCredential

pytestmark = pytest.mark.django_db
MARIO = "mario.rossi@contoso.example"
NADIA = "nadia.haddad@contoso.example"


def _graph(simtenant, method: str, path: str, *, token: str | None = "", **kw: Any):  # type: ignore[no-untyped-def]
    session = requests.Session()
    session.trust_env = False
    if token == "":
        token = MsalCredential().get_token("https://graph.microsoft.com/.default").token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return session.request(method, f"{simtenant.url}/v1.0{path}", headers=headers, timeout=10, **kw)


def test_simtenant_a_second_tap_replaces_the_first(simtenant):
    # given
    path = f"/users/{MARIO}/authentication/temporaryAccessPassMethods"
    first = _graph(simtenant, "POST", path, json={}).json()
    # when
    second = _graph(simtenant, "POST", path, json={}).json()
    # then
    listed = _graph(simtenant, "GET", path).json()["value"]
    assert [t["id"] for t in listed] == [second["id"]] != [first["id"]]
    assert listed[0]["temporaryAccessPass"] is None
    assert simtenant.user(MARIO)["taps_issued"] == 2


def test_simtenant_refuses_a_missing_token_like_graph(simtenant):
    # when
    answer = _graph(simtenant, "GET", f"/users/{MARIO}", token=None)
    # then
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert error["code"] == "InvalidAuthenticationToken"
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    assert answer.headers["request-id"] == error["innerError"]["request-id"]


def test_simtenant_refuses_the_mobile_phone_while_an_alternate_exists(simtenant):
    # when
    answer = _graph(
        simtenant,
        "DELETE",
        f"/users/{NADIA}/authentication/phoneMethods/3179e48a-750b-4051-897c-87b9720928f7",
    )
    # then
    assert answer.status_code == 400
    assert "alternate mobile" in answer.json()["error"]["message"]


def test_simtenant_refuses_an_unknown_select_property(simtenant):
    # when
    answer = _graph(simtenant, "GET", f"/users/{MARIO}?$select=id,shoeSize")
    # then
    assert answer.status_code == 400
    assert "shoeSize" in answer.json()["error"]["message"]


def test_simtenant_tap_lifetime_outside_the_policy_is_refused(simtenant):
    # when
    answer = _graph(
        simtenant,
        "POST",
        f"/users/{MARIO}/authentication/temporaryAccessPassMethods",
        json={"lifetimeInMinutes": 10},
    )
    # then
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == (
        "Invalid LifetimeInMinutes specified. The valid range between 60 and 480."
    )


def test_simtenant_throttles_with_retry_after(simtenant):
    # given
    simtenant.fault(status=429, count=1, retry_after=3)
    # when
    first = _graph(simtenant, "GET", f"/users/{MARIO}")
    second = _graph(simtenant, "GET", f"/users/{MARIO}")
    # then
    assert first.status_code == 429 and first.headers["Retry-After"] == "3"
    assert first.json()["error"]["code"] == "TooManyRequests"
    assert second.status_code == 200


def test_simtenant_deleting_a_member_without_ref_is_not_routed(simtenant):
    # when: the dangerous form (without /$ref Graph would delete the user object itself)
    answer = _graph(
        simtenant,
        "DELETE",
        "/groups/b8d3a1f0-5c2e-4d9a-9f7b-3e6c1a2d4b5c/members/c9606eaf-820d-5b3f-902a-40d272b92e14",
    )
    # then
    assert answer.status_code in (400, 405)
    assert simtenant.user(MARIO)["id"]

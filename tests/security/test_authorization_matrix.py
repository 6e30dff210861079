"""The authorization matrix: every route of the URLconf × every kind of visitor, the expected
status of each cell written down. A new route fails test_matrix_covers_every_route until
someone decides who may open it."""

from __future__ import annotations

import pytest
from django.db import transaction

from tests.conftest import sign_in
from tests.security.urlmatrix import ROLES, fill, routes

pytestmark = pytest.mark.django_db

# (route name, method) → the answer for each visitor, in ROLES order:
#   anonymous, outsider (staff with MFA, no role), agent, approver, security officer, auditor,
#   manager of record (a staff account with no role, named on the case).
# LOGIN = sent to sign in; REAUTH = asked for the second factor again first (destructive
# actions: every visitor signed in, password + TOTP, an hour ago); CASE = back to the case page
# with the workflow's message (done or refused).
# The case is verified by another agent and waits for its manager; the manager cells use the
# mailed link. Public pages answer everyone alike (400/404: no valid form, code or link).
LOGIN, REAUTH, CASE = "302 login", "302 reauth", "302 case"
SIGNED_IN_AGO = 3600
STATUS, QUEUE = "302 /status/", "302 /staff/queue/"
MATRIX: dict[tuple[str, str], list[int | str]] = {
    ("health", "GET"): [200, 200, 200, 200, 200, 200, 200],
    ("set_language", "GET"): ["302 /", "302 /", "302 /", "302 /", "302 /", "302 /", "302 /"],
    ("set_language", "POST"): ["302 /", "302 /", "302 /", "302 /", "302 /", "302 /", "302 /"],
    ("staff_home", "GET"): [
        LOGIN,
        403,
        QUEUE,
        QUEUE,
        QUEUE,
        "302 /audit/",
        403,
    ],
    ("staff_queue", "GET"): [LOGIN, 403, 200, 200, 200, 403, 403],
    ("staff_ticket", "GET"): [LOGIN, 404, 200, 200, 200, 200, 404],
    ("staff_claim", "POST"): [LOGIN, 404, CASE, 403, 403, 403, 404],
    ("staff_assign", "POST"): [LOGIN, 404, CASE, CASE, CASE, 403, 404],
    ("staff_verify", "GET"): [LOGIN, 404, 200, 403, 403, 403, 404],
    ("staff_verify_submit", "POST"): [LOGIN, 404, 400, 400, 400, 403, 404],
    ("staff_approve", "POST"): [
        LOGIN,
        404,
        REAUTH,
        REAUTH,
        REAUTH,
        403,
        404,
    ],
    ("staff_flag_fraud", "POST"): [LOGIN, 404, CASE, CASE, CASE, 403, 404],
    ("staff_close", "POST"): [LOGIN, 404, REAUTH, REAUTH, REAUTH, 403, 404],
    ("staff_unfreeze", "POST"): [
        LOGIN,
        404,
        REAUTH,
        REAUTH,
        REAUTH,
        403,
        404,
    ],
    ("staff_retry", "POST"): [LOGIN, 404, REAUTH, REAUTH, REAUTH, 403, 404],
    ("staff_reveal", "POST"): [
        LOGIN,
        404,
        REAUTH,
        REAUTH,
        REAUTH,
        403,
        404,
    ],
    ("manager_confirm", "GET"): [LOGIN, 403, 403, 403, 403, 403, 200],
    ("manager_decide", "POST"): [LOGIN, 403, 403, 403, 403, 403, 200],
    ("audit_home", "GET"): [LOGIN, 403, 403, 403, 200, 200, 403],
    ("audit_ticket_timeline", "GET"): [LOGIN, 403, 403, 403, 200, 200, 403],
    ("audit_export_csv", "GET"): [LOGIN, 403, 403, 403, 403, 200, 403],
    ("audit_export_json", "GET"): [LOGIN, 403, 403, 403, 403, 200, 403],
    ("audit_reports", "GET"): [LOGIN, 403, 403, 403, 200, 200, 403],
    ("public_start", "GET"): [200, 200, 200, 200, 200, 200, 200],
    ("public_question", "GET"): [200, 200, 200, 200, 200, 200, 200],
    ("public_answer", "POST"): ["302 /", "302 /", "302 /", "302 /", "302 /", "302 /", "302 /"],
    ("public_guide_personal", "GET"): [200, 200, 200, 200, 200, 200, 200],
    ("public_guide_restore", "GET"): [200, 200, 200, 200, 200, 200, 200],
    ("public_guide_other_method", "GET"): [200, 200, 200, 200, 200, 200, 200],
    ("public_request", "GET"): [200, 200, 200, 200, 200, 200, 200],
    ("public_request_submit", "POST"): [400, 400, 400, 400, 400, 400, 400],
    ("public_status", "GET"): [200, 200, 200, 200, 200, 200, 200],
    ("public_status_check", "POST"): [400, 400, 400, 400, 400, 400, 400],
    ("public_status_case", "GET"): [
        STATUS,
        STATUS,
        STATUS,
        STATUS,
        STATUS,
        STATUS,
        STATUS,
    ],
    ("public_status_leave", "POST"): [
        STATUS,
        STATUS,
        STATUS,
        STATUS,
        STATUS,
        STATUS,
        STATUS,
    ],
    ("public_not_me", "GET"): [400, 400, 400, 400, 400, 400, 400],
    ("public_not_me_report", "POST"): [400, 400, 400, 400, 400, 400, 400],
    ("public_status_reveal", "POST"): [404, 404, 404, 404, 404, 404, 404],
}


def _where(response) -> str:  # type: ignore[no-untyped-def]
    """A redirect, named by where it goes: the sign-in, a re-authentication, the case page."""
    location = response["Location"]
    for prefix, label in (
        ("/accounts/login/", "login"),
        ("/accounts/2fa/reauthenticate/", "reauth"),
        ("/staff/tickets/", "case"),
    ):
        if location.startswith(prefix):
            return f"302 {label}"
    return f"302 {location.split('?')[0]}"


def knock(client, cast, name: str, pattern: str, method: str, role: str) -> int | str:  # type: ignore[no-untyped-def]
    """One cell: the visitor's request, in a savepoint rolled back afterwards."""
    case = cast["case"]
    url = fill(pattern, case)
    data: dict[str, str] = {}
    if name == "manager_confirm":
        url += f"?t={case['token']}"
    if name == "manager_decide":
        data = {"t": case["token"], "decision": "confirm", "reason": "He called me."}
    client.logout()
    if cast["people"][role] is not None:
        # Signed in with password + TOTP, longer ago than the re-authentication window.
        sign_in(client, cast["people"][role], seconds_ago=SIGNED_IN_AGO)
    with transaction.atomic():
        response = getattr(client, method.lower())(url, data)
        transaction.set_rollback(True)
    return _where(response) if response.status_code == 302 else response.status_code


def _pattern(name: str) -> str:
    return next(pattern for n, pattern, _ in routes() if n == name)


def test_matrix_covers_every_route() -> None:
    # A route missing here is a view nobody decided the access of.
    assert {name for name, _, _ in routes()} == {name for name, _ in MATRIX}


@pytest.mark.parametrize(("name", "method"), list(MATRIX), ids=[f"{n}-{m}" for n, m in MATRIX])
def test_authorization_matrix(client, cast, name: str, method: str) -> None:  # type: ignore[no-untyped-def]
    # when every visitor knocks
    answers = [knock(client, cast, name, _pattern(name), method, role) for role in ROLES]
    # then each gets the answer written in the matrix
    assert dict(zip(ROLES, answers, strict=True)) == dict(
        zip(ROLES, MATRIX[(name, method)], strict=True)
    )


# Django's set_language takes any method (it only sets the language and redirects).
OWN_VIEWS = [key for key in MATRIX if key[0] != "set_language"]


@pytest.mark.parametrize(("name", "method"), OWN_VIEWS, ids=[f"{n}-{m}" for n, m in OWN_VIEWS])
def test_other_methods_are_refused(client, cast, name: str, method: str) -> None:  # type: ignore[no-untyped-def]
    # given the methods the matrix does not list for this route
    others = {"GET", "POST", "PUT", "DELETE"} - {m for n, m in MATRIX if n == name}
    # when the agent (signed in) uses them
    sign_in(client, cast["people"]["agent"])
    url = fill(_pattern(name), cast["case"])
    answers = {m: client.generic(m, url).status_code for m in sorted(others)}
    # then
    assert set(answers.values()) <= {405}, answers


def test_admin_is_closed_to_every_role(client, cast) -> None:  # type: ignore[no-untyped-def]
    # when each visitor opens the admin
    answers = {}
    for role in ROLES:
        client.logout()
        if cast["people"][role] is not None:
            sign_in(client, cast["people"][role])
        response = client.get("/admin/")
        answers[role] = response.status_code, response.get("Location", "").split("?")[0]
    # then nobody gets in: all are sent to the admin's own sign-in
    assert answers == dict.fromkeys(ROLES, (302, "/admin/login/"))
    # and a superuser does (the admin is there, just closed)
    from tests.factories import UserFactory

    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    from tests.conftest import enrol_totp

    enrol_totp(root)
    sign_in(client, root)
    assert client.get("/admin/").status_code == 200

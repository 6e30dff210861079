"""recovery_portal/middleware.py: public views never load the session's user; private ones send
the anonymous to sign-in, and a session that has not passed a second factor — whichever way it
came in — to the second-factor step and nowhere else."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import enrol_totp, sign_in, totp_code
from tests.factories import STAFF_PASSWORD as PW
from tests.factories import TicketFactory, UserFactory
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


def test_login_required_middleware_lets_health_through_without_reading_the_session(
    client, agent
) -> None:  # type: ignore[no-untyped-def]
    # given a signed-in agent's browser
    client.force_login(agent)
    # when it opens /health/
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/health/")
    # then the only query is the probe's own; the session is neither read nor written
    assert [q["sql"] for q in queries.captured_queries] == ["SELECT 1"]
    assert response.status_code in (200, 503)
    assert "sessionid" not in response.cookies


def test_login_required_middleware_sends_the_anonymous_to_sign_in(client) -> None:  # type: ignore[no-untyped-def]
    # when
    response = client.get("/staff/queue/")
    # then
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/staff/queue/")


def test_staff_mfa_middleware_still_sends_staff_without_mfa_to_enrolment(client) -> None:  # type: ignore[no-untyped-def]
    # given an agent signed in with a password and no authenticator
    client.force_login(UserFactory(username="no-mfa", roles=["helpdesk_agent"]))
    # when
    response = client.get("/staff/queue/")
    # then
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/2fa/totp/activate/")


# --- A second factor in *this* session, whatever the way in ------------------------------------

STAFF_PAGES = [("get", "/staff/queue/"), ("get", "/audit/export.csv"), ("post", "claim")]


@pytest.fixture
def both(db):  # type: ignore[no-untyped-def]
    """An agent who is also an auditor, enrolled in TOTP, Django-admin staff as well: every
    staff and audit page is theirs once the second factor is passed."""
    user = UserFactory(username="both", roles=["helpdesk_agent", "auditor"], is_staff=True)
    enrol_totp(user)
    return user


def knock_on_staff_pages(client) -> dict[str, tuple[int, str]]:  # type: ignore[no-untyped-def]
    """What each staff page answers this browser; the claim is made on a fresh case."""
    ticket = TicketFactory()
    answers = {}
    for method, path in STAFF_PAGES:
        url = f"/staff/tickets/{ticket.pk}/claim/" if path == "claim" else path
        response = getattr(client, method)(url)
        answers[path] = response.status_code, response.get("Location", "").split("?")[0]
    assert Ticket.objects.get(pk=ticket.pk).assigned_to is None, "the claim went through"
    return answers


def test_password_at_the_sign_in_page_reaches_no_staff_page(client, both) -> None:  # type: ignore[no-untyped-def]
    # when the password is typed at allauth's sign-in, and the TOTP step is skipped
    response = client.post("/accounts/login/", {"login": "both", "password": PW})
    assert response["Location"] == "/accounts/2fa/authenticate/"
    # then every staff page sends the browser to sign in: it is not signed in at all
    assert set(knock_on_staff_pages(client).values()) == {(302, "/accounts/login/")}


def test_password_at_the_admin_login_reaches_no_staff_page(client, both) -> None:  # type: ignore[no-untyped-def]
    # when the password is posted to Django's admin login form
    response = client.post("/admin/login/?next=/admin/", {"username": "both", "password": PW})
    # then allauth's sign-in stands in front of it, and nobody was signed in
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session
    assert set(knock_on_staff_pages(client).values()) == {(302, "/accounts/login/")}


def test_a_session_that_never_passed_a_second_factor_sees_only_that_step(client, both) -> None:  # type: ignore[no-untyped-def]
    # given a session signed in without any second factor on record (one from before the rule,
    # or Django's own login)
    client.force_login(both)
    # then staff pages, the admin and the account pages lead to the second-factor step only
    assert set(knock_on_staff_pages(client).values()) == {(302, "/accounts/2fa/reauthenticate/")}
    for path in ("/admin/", "/accounts/2fa/", "/accounts/password/change/"):
        assert client.get(path)["Location"].startswith("/accounts/2fa/reauthenticate/"), path
    # and that step is open
    assert client.get("/accounts/2fa/reauthenticate/").status_code == 200


def test_the_password_page_does_not_stand_in_for_the_second_factor(client, both) -> None:  # type: ignore[no-untyped-def]
    # given a session without a second factor, at allauth's password re-authentication
    client.force_login(both)
    response = client.get("/accounts/reauthenticate/?next=/staff/queue/")
    # then it is sent to the second factor instead, keeping where it was going
    assert response["Location"] == "/accounts/2fa/reauthenticate/?next=%2Fstaff%2Fqueue%2F"


def test_the_second_factor_step_opens_the_staff_pages(client, both) -> None:  # type: ignore[no-untyped-def]
    # given a session without a second factor
    client.force_login(both)
    # when the TOTP code is given at the second-factor step
    response = client.post(
        "/accounts/2fa/reauthenticate/?next=/staff/queue/", {"code": totp_code(both)}
    )
    # then the page asked for opens, and so do the others
    assert response["Location"] == "/staff/queue/"
    assert client.get("/staff/queue/").status_code == 200
    assert client.get("/audit/export.csv").status_code == 200


def test_a_session_whose_authenticator_was_removed_loses_the_staff_pages(client, both) -> None:  # type: ignore[no-untyped-def]
    # given a session signed in with TOTP, and a security key also enrolled
    sign_in(client, both)
    Authenticator.objects.create(user=both, type=Authenticator.Type.WEBAUTHN, data={})
    # when an administrator removes the TOTP authenticator (the lost phone)
    Authenticator.objects.filter(user=both, type=Authenticator.Type.TOTP).delete()
    # then the session proves nothing any more: the remaining key is asked for
    answers = set(knock_on_staff_pages(client).values())
    assert answers == {(302, "/accounts/2fa/webauthn/reauthenticate/")}


def test_a_session_whose_only_authenticator_was_removed_must_enrol_again(client, both) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, both)
    Authenticator.objects.filter(user=both).delete()
    assert set(knock_on_staff_pages(client).values()) == {(302, "/accounts/2fa/totp/activate/")}

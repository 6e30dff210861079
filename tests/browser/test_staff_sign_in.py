"""A person at a browser: sign-in with a TOTP code, MFA enrolment enforced, anonymous refused,
the admin's login behind the portal's, and re-authentication only past its window, through the
second factor."""

from __future__ import annotations

import re

import pytest
from allauth.mfa.models import Authenticator
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from playwright.sync_api import Page, expect

from tests.conftest import enrol_totp, totp_code
from tests.factories import STAFF_PASSWORD, UserFactory
from tests.tickets.casework import make_ticket
from tickets import workflow
from tickets.models import Status, Ticket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label(re.compile("Username|Login", re.I)).fill(username)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name=re.compile("Sign in", re.I)).click()


def test_agent_signs_in_with_totp_and_reaches_the_queue(page: Page, live_server, agent) -> None:  # type: ignore[no-untyped-def]
    # given an agent enrolled in TOTP, on the staff queue without a session
    page.goto(f"{live_server.url}/staff/queue/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    # when they sign in with password, then the code from their app
    sign_in(page, live_server.url, "agent")
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/"))
    page.get_by_label(re.compile("Authenticator code|Code", re.I)).fill(totp_code(agent))
    page.get_by_role("button", name=re.compile("Sign in|Confirm", re.I)).click()
    # then they land on the (empty) queue
    expect(page.get_by_role("heading", name="Recovery queue")).to_be_visible()
    expect(page.get_by_text("No open recovery requests.")).to_be_visible()


def test_wrong_totp_code_keeps_the_agent_out(page: Page, live_server, agent) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, live_server.url, "agent")
    page.get_by_label(re.compile("Authenticator code|Code", re.I)).fill(totp_code(agent, offset=5))
    page.get_by_role("button", name=re.compile("Sign in|Confirm", re.I)).click()
    expect(page.get_by_text(re.compile("Incorrect code", re.I))).to_be_visible()
    page.goto(f"{live_server.url}/staff/queue/")
    expect(page).to_have_url(re.compile(r"/accounts/(login|2fa/authenticate)/"))
    expect(page.get_by_role("heading", name="Recovery queue")).to_have_count(0)


def test_staff_without_mfa_is_sent_to_enrolment(page: Page, live_server, agent) -> None:  # type: ignore[no-untyped-def]
    # given an agent with no authenticator yet
    Authenticator.objects.filter(user=agent).delete()
    # when they sign in with the password alone
    sign_in(page, live_server.url, "agent")
    page.goto(f"{live_server.url}/staff/queue/")
    # then the queue does not open; TOTP enrolment does, after confirming the password
    expect(page).to_have_url(re.compile(r"/accounts/reauthenticate/\?next=.*totp.*activate"))
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name=re.compile("Confirm", re.I)).click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate/"))
    expect(page.get_by_text(re.compile("Authenticator App", re.I)).first).to_be_visible()
    expect(page.get_by_text("Recovery queue")).to_have_count(0)


def age_the_sign_in(page: Page, seconds: float) -> None:
    """As if the browser had signed in ``seconds`` earlier: allauth's per-session records of the
    password and the second factor are moved back in time."""
    key = next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid")
    session = SessionStore(session_key=key)
    session["account_authentication_methods"] = [
        {**record, "at": record["at"] - seconds}
        for record in session["account_authentication_methods"]
    ]
    session.save()


def sign_in_with_totp(page: Page, base: str, user) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, base, user.username)
    page.get_by_label(re.compile("Authenticator code|Code", re.I)).fill(totp_code(user))
    page.get_by_role("button", name=re.compile("Sign in|Confirm", re.I)).click()
    expect(page.get_by_role("heading", name="Recovery queue")).to_be_visible()


def close_the_case(page: Page, base: str, ticket: Ticket) -> None:
    page.goto(f"{base}/staff/tickets/{ticket.pk}/")
    page.locator("#id_close-reason").fill("Duplicate of an earlier request.")
    page.get_by_role("button", name="Close the case").click()


def test_a_destructive_action_past_the_window_asks_for_the_second_factor_then_goes_on(
    page: Page, live_server, agent, settings
) -> None:  # type: ignore[no-untyped-def]
    # given an agent who signed in with password + TOTP longer ago than RP_REAUTH_SECONDS,
    # working a case
    ticket = workflow.claim(make_ticket(), by=agent)
    sign_in_with_totp(page, live_server.url, agent)
    age_the_sign_in(page, settings.ACCOUNT_REAUTHENTICATION_TIMEOUT + 60)
    cache.clear()  # the code typed at sign-in is valid again in this 30 s step; let it be
    # when they close the case
    close_the_case(page, live_server.url, ticket)
    # then their second factor is asked for — not the password — and the case stays open
    expect(page).to_have_url(re.compile(r"/accounts/2fa/reauthenticate/"))
    expect(page.get_by_label("Password")).to_have_count(0)
    assert Ticket.objects.get(pk=ticket.pk).status != Status.CLOSED
    # and once the code is given, the close they asked for goes through
    page.get_by_placeholder(re.compile("Code", re.I)).fill(totp_code(agent))
    page.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(rf"/staff/tickets/{ticket.pk}/$"))
    assert Ticket.objects.get(pk=ticket.pk).status == Status.CLOSED


def test_a_destructive_action_right_after_sign_in_asks_nothing_more(
    page: Page, live_server, agent
) -> None:  # type: ignore[no-untyped-def]
    ticket = workflow.claim(make_ticket(), by=agent)
    sign_in_with_totp(page, live_server.url, agent)
    close_the_case(page, live_server.url, ticket)
    expect(page).to_have_url(re.compile(rf"/staff/tickets/{ticket.pk}/$"))
    assert Ticket.objects.get(pk=ticket.pk).status == Status.CLOSED


def test_the_admin_login_goes_through_the_portals_sign_in_and_its_second_factor(
    page: Page, live_server
) -> None:  # type: ignore[no-untyped-def]
    # given a Django superuser enrolled in TOTP
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    enrol_totp(root)
    # when they open the admin's own login page
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    # then the portal's sign-in answers instead, and the admin opens only after the TOTP code
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    page.get_by_label(re.compile("Username|Login", re.I)).fill("root")
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name=re.compile("Sign in", re.I)).click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/"))
    page.get_by_label(re.compile("Authenticator code|Code", re.I)).fill(totp_code(root))
    page.get_by_role("button", name=re.compile("Sign in|Confirm", re.I)).click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()


def test_the_admin_stays_closed_to_the_password_alone(page: Page, live_server) -> None:  # type: ignore[no-untyped-def]
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    enrol_totp(root)
    # when the password is typed and the second-factor page is left
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    sign_in(page, live_server.url, "root")
    page.goto(f"{live_server.url}/admin/")
    # then the admin sends the browser back to the sign-in still pending: nobody is signed in
    expect(page).to_have_url(re.compile(r"/accounts/(login|2fa/authenticate)/"))
    expect(page.get_by_role("heading", name="Site administration")).to_have_count(0)

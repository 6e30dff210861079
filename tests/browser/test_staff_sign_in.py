"""A person at a browser: sign-in with a TOTP code, MFA enrolment enforced, anonymous refused."""

from __future__ import annotations

import re

import pytest
from allauth.mfa.models import Authenticator
from playwright.sync_api import Page, expect

from tests.conftest import totp_code
from tests.factories import STAFF_PASSWORD

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

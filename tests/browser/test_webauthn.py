"""Security keys for staff, with Chromium's virtual authenticator (CDP): a key is added from the
browser, then used instead of TOTP at sign-in; a key nobody registered, and staff with no second
factor at all, stay out of the staff pages. Every page runs under the strict CSP: a violation
reported by the browser fails the test."""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any

import pytest
from allauth.account.utils import user_pk_to_url_str
from allauth.mfa.models import Authenticator
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import CDPSession, Page, expect

from tests.conftest import totp_code
from tests.factories import STAFF_PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

ADD_KEY = "/accounts/2fa/webauthn/add/"
MFA_STAGE = re.compile(r"/accounts/2fa/authenticate/")


@pytest.fixture
def csp_violations(page: Page) -> list[str]:
    """What the browser refused under the Content-Security-Policy, as it reports it."""
    seen: list[str] = []
    page.on(
        "console",
        lambda msg: seen.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    return seen


@pytest.fixture
def webauthn(page: Page) -> CDPSession:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    return cdp


def plug_in_key(cdp: CDPSession, *, transport: str = "usb") -> str:
    """A new virtual authenticator, as if a security key were plugged in; returns its id."""
    options = {
        "protocol": "ctap2",
        "transport": transport,
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
        "automaticPresenceSimulation": True,
    }
    return cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})["authenticatorId"]


def forge_credential(cdp: CDPSession, authenticator_id: str, *, user: Any) -> None:
    """A discoverable credential for this portal and this user, made on the attacker's key."""
    private_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    credential = {
        "credentialId": base64.b64encode(secrets.token_bytes(32)).decode(),
        "isResidentCredential": True,
        "rpId": "localhost",
        "privateKey": base64.b64encode(private_key).decode(),
        "userHandle": base64.b64encode(user_pk_to_url_str(user).encode()).decode(),
        "signCount": 0,
    }
    cdp.send(
        "WebAuthn.addCredential", {"authenticatorId": authenticator_id, "credential": credential}
    )


def credentials_on(cdp: CDPSession, authenticator_id: str) -> list[dict[str, Any]]:
    return cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]


def sign_in_with_password(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label(re.compile("Username|Login", re.I)).fill(username)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name=re.compile("Sign in", re.I)).click()


def sign_in_with_totp(page: Page, base: str, user: Any) -> None:
    sign_in_with_password(page, base, user.username)
    expect(page).to_have_url(MFA_STAGE)
    page.get_by_label(re.compile("Authenticator code|Code", re.I)).fill(totp_code(user))
    page.get_by_role("button", name=re.compile("Sign in|Confirm", re.I)).click()
    expect(page.get_by_role("heading", name="Recovery queue")).to_be_visible()


def add_security_key(page: Page, base: str) -> None:
    page.goto(f"{base}{ADD_KEY}")
    # right after a sign-in with the second factor, adding another asks nothing more
    # (past RP_REAUTH_SECONDS it would ask for the second factor: test_staff_sign_in)
    expect(page.get_by_role("heading", name="Add Security Key")).to_be_visible()
    page.get_by_role("button", name="Add").click()
    # a first key also generates recovery codes, and allauth shows them
    expect(page).to_have_url(re.compile(r"/accounts/2fa/(recovery-codes/)?$"))


def sign_out(page: Page) -> None:
    page.get_by_role("button", name=re.compile("Sign out", re.I)).click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()


def registered_key(page: Page, base: str, cdp: CDPSession, user: Any) -> str:
    """The user, signed in with TOTP, adds the plugged-in key; then signs out."""
    key = plug_in_key(cdp)
    sign_in_with_totp(page, base, user)
    add_security_key(page, base)
    sign_out(page)
    return key


def test_add_security_key_registers_one_webauthn_authenticator(
    page: Page, live_server, agent, webauthn: CDPSession, csp_violations: list[str]
) -> None:
    # given an agent enrolled in TOTP, signed in, with a security key plugged in
    key = plug_in_key(webauthn)
    sign_in_with_totp(page, live_server.url, agent)
    # when they add the key from allauth's page
    add_security_key(page, live_server.url)
    # then the key holds one credential for this portal, and allauth stored it for the agent
    (credential,) = credentials_on(webauthn, key)
    assert credential["rpId"] == "localhost"
    stored = Authenticator.objects.get(user=agent, type=Authenticator.Type.WEBAUTHN)
    assert stored.wrap().authenticator_data.credential_data is not None
    assert csp_violations == []


def test_sign_in_completes_mfa_with_the_security_key_instead_of_totp(
    page: Page, live_server, agent, webauthn: CDPSession, csp_violations: list[str]
) -> None:
    # given an agent who added a security key and signed out
    key = registered_key(page, live_server.url, webauthn, agent)
    sign_count_before = credentials_on(webauthn, key)[0]["signCount"]
    # when they sign in with the password, then choose the key at the MFA stage
    sign_in_with_password(page, live_server.url, "agent")
    expect(page).to_have_url(MFA_STAGE)
    page.get_by_role("button", name="Use a security key").click()
    # then the key signed the challenge, and the queue opens without any TOTP code
    expect(page.get_by_role("heading", name="Recovery queue")).to_be_visible()
    assert credentials_on(webauthn, key)[0]["signCount"] > sign_count_before
    assert csp_violations == []


def test_sign_in_with_a_security_key_as_the_only_factor_reaches_the_queue(
    page: Page, live_server, agent, webauthn: CDPSession
) -> None:
    # given an agent whose TOTP was removed after they added a key: the key is their only factor
    registered_key(page, live_server.url, webauthn, agent)
    Authenticator.objects.filter(user=agent, type=Authenticator.Type.TOTP).delete()
    # when they sign in with the password and the key
    sign_in_with_password(page, live_server.url, "agent")
    expect(page).to_have_url(MFA_STAGE)
    page.get_by_role("button", name="Use a security key").click()
    # then the staff pages count the key as MFA: the queue opens, no TOTP enrolment is forced
    expect(page.get_by_role("heading", name="Recovery queue")).to_be_visible()
    page.goto(f"{live_server.url}/staff/")
    expect(page).not_to_have_url(re.compile(r"/accounts/"))


def test_sign_in_refuses_a_security_key_nobody_registered(
    page: Page, live_server, agent, webauthn: CDPSession
) -> None:
    # given an agent's key registered, and an attacker who knows the password holding another
    # key, with its own credential for this portal (not the agent's)
    agents_key = registered_key(page, live_server.url, webauthn, agent)
    webauthn.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": agents_key})
    attackers_key = plug_in_key(webauthn)
    forge_credential(webauthn, attackers_key, user=agent)
    sign_in_with_password(page, live_server.url, "agent")
    expect(page).to_have_url(MFA_STAGE)
    # when the attacker asks their own key for an assertion on this challenge, dropping the
    # list of allowed credentials their browser would honour, and posts it
    page.evaluate(
        """async () => {
            const options = JSON.parse(document.getElementById('js_data').textContent)
                .request_options;
            delete options.publicKey.allowCredentials;
            const assertion = await window.webauthnJSON.get(options);
            const field = document.querySelector('input[name=credential]');
            field.value = JSON.stringify(assertion);
            field.form.submit();
        }"""
    )
    # then the key did sign, but the portal refuses it and the queue stays closed
    expect(page.get_by_text(re.compile("Incorrect code", re.I))).to_be_visible()
    expect(page).to_have_url(MFA_STAGE)
    assert credentials_on(webauthn, attackers_key)[0]["signCount"] == 1
    page.goto(f"{live_server.url}/staff/queue/")
    expect(page).to_have_url(re.compile(r"/accounts/(login|2fa/authenticate)/"))
    expect(page.get_by_role("heading", name="Recovery queue")).to_have_count(0)


def test_staff_without_mfa_cannot_reach_staff_pages_with_a_key_plugged_in(
    page: Page, live_server, agent, webauthn: CDPSession
) -> None:
    # given an agent with no second factor at all, though a security key is plugged in
    Authenticator.objects.filter(user=agent).delete()
    key = plug_in_key(webauthn)
    # when they sign in with the password alone and open staff pages
    sign_in_with_password(page, live_server.url, "agent")
    for path in ("/staff/queue/", "/staff/"):
        page.goto(f"{live_server.url}{path}")
        # then enrolment opens instead, never the staff page, and the key was never asked
        expect(page).to_have_url(re.compile(r"/accounts/(reauthenticate|2fa/totp/activate)/"))
        expect(page.get_by_role("heading", name="Recovery queue")).to_have_count(0)
    assert credentials_on(webauthn, key) == []
    assert not Authenticator.objects.filter(user=agent).exists()

"""The fixed cast, the polling helper, and the plumbing for browser tests."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from allauth.account.authentication import AUTHENTICATION_METHODS_SESSION_KEY
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, generate_totp_secret, hotp_value
from allauth.mfa.utils import decrypt, encrypt

from tests.factories import UserFactory

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # live_server + sync Playwright

pytest_plugins = ["tests.fixtures_graph", "tests.smtp"]


def wait_until(
    check: Callable[[], Any], *, timeout: float = 45, what: str = "condition", every: float = 0.1
) -> Any:
    """Poll ``check`` until it returns something truthy, and return that; a TimeoutError naming
    ``what`` after ``timeout`` seconds. Tests await conditions with it rather than sleeping."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(every)
    raise TimeoutError(f"{what} not met after {timeout} s")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):  # type: ignore[no-untyped-def]
    """Hashing strength is Django's concern, not ours: keep the suite's sign-ins cheap."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache():  # type: ignore[no-untyped-def]
    """Throttle counters live in Redis: each test starts with none."""
    from django.core.cache import cache

    cache.clear()
    yield


def enrol_totp(user) -> str:  # type: ignore[no-untyped-def]
    secret = generate_totp_secret()
    Authenticator.objects.create(
        user=user, type=Authenticator.Type.TOTP, data={"secret": encrypt(secret)}
    )
    return secret


def totp_code(user, *, offset: int = 0) -> str:  # type: ignore[no-untyped-def]
    """The code the user's authenticator app would show now (offset in 30 s steps)."""
    auth = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    counter = int(time.time()) // 30 + offset
    return format_hotp_value(hotp_value(decrypt(auth.data["secret"]), counter))


def sign_in(client, user, *, seconds_ago: float = 0):  # type: ignore[no-untyped-def]
    """The client signed in as ``user`` as allauth leaves a session after the password and the
    second factor (its per-session records), ``seconds_ago``. Django's ``force_login`` alone
    is a session that never passed a second factor, which the portal treats as such."""
    client.force_login(user)
    factor = Authenticator.objects.filter(
        user=user, type__in=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
    ).first()
    assert factor is not None, f"{user} has no second factor to sign in with"
    at = time.time() - seconds_ago
    session = client.session
    session["account_authentication_methods_user"] = str(user.pk)
    session[AUTHENTICATION_METHODS_SESSION_KEY] = [
        {"method": "password", "at": at, "username": user.get_username()},
        {"method": "mfa", "at": at, "id": factor.pk, "type": factor.type},
    ]
    session.save()
    return client


def _staff(username: str, roles: list[str]):  # type: ignore[no-untyped-def]
    user = UserFactory(username=username, roles=roles)
    enrol_totp(user)
    return user


@pytest.fixture
def agent(db):  # type: ignore[no-untyped-def]
    return _staff("agent", ["helpdesk_agent"])


@pytest.fixture
def agent2(db):  # type: ignore[no-untyped-def]
    return _staff("agent2", ["helpdesk_agent"])


@pytest.fixture
def approver(db):  # type: ignore[no-untyped-def]
    return _staff("approver", ["approver"])


@pytest.fixture
def security(db):  # type: ignore[no-untyped-def]
    return _staff("security", ["security_officer"])


@pytest.fixture
def auditor(db):  # type: ignore[no-untyped-def]
    return _staff("auditor", ["auditor"])


@pytest.fixture
def outsider(db):  # type: ignore[no-untyped-def]
    """A signed-in staff account with MFA but no role at all."""
    return _staff("outsider", [])


@pytest.fixture
def requester_upn() -> str:
    return "mario.rossi@contoso.example"


@pytest.fixture
def mfa_client(client):  # type: ignore[no-untyped-def]
    """A test client factory: signed in as `user`, past the MFA stage."""

    def signed_in(user):  # type: ignore[no-untyped-def]
        return sign_in(client, user)

    return signed_in


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):  # type: ignore[no-untyped-def]
    return {
        **browser_type_launch_args,
        "executable_path": os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }

"""Staff sign-in, failed sign-in, failed second factor and sign-out each leave an event."""

from __future__ import annotations

import pytest

from audit.actions import Action
from audit.models import AuditEvent, Outcome
from tests.conftest import totp_code
from tests.factories import STAFF_PASSWORD

pytestmark = pytest.mark.django_db


def _password_step(client, username: str, password: str = STAFF_PASSWORD):  # type: ignore[no-untyped-def]
    return client.post(
        "/accounts/login/",
        {"login": username, "password": password},
        REMOTE_ADDR="10.9.8.7",
        HTTP_USER_AGENT="pytest-browser",
    )


def test_sign_in_with_password_and_totp_records_one_success(client, agent) -> None:  # type: ignore[no-untyped-def]
    # given / when
    _password_step(client, "agent")
    client.post("/accounts/2fa/authenticate/", {"code": totp_code(agent)}, REMOTE_ADDR="10.9.8.7")
    # then
    event = AuditEvent.objects.get(action=Action.STAFF_SIGNED_IN)
    assert (event.actor_id, event.actor_label, event.outcome) == (agent.pk, "agent", "success")
    assert event.actor_roles == "helpdesk_agent" and event.ip == "10.9.8.7"


def test_wrong_password_records_a_failure_naming_the_login_tried(client, agent) -> None:  # type: ignore[no-untyped-def]
    # when
    _password_step(client, "agent", password="not-the-password-at-all")
    # then
    event = AuditEvent.objects.get(action=Action.STAFF_SIGN_IN_FAILED)
    assert event.outcome == Outcome.FAILURE and event.subject == "agent"
    assert event.actor_id is None and event.user_agent == "pytest-browser"
    assert "not-the-password" not in repr(AuditEvent.objects.values())
    assert not AuditEvent.objects.filter(action=Action.STAFF_SIGNED_IN).exists()


def test_wrong_second_factor_records_an_mfa_failure(client, agent) -> None:  # type: ignore[no-untyped-def]
    # when
    _password_step(client, "agent")
    client.post("/accounts/2fa/authenticate/", {"code": totp_code(agent, offset=7)})
    # then
    event = AuditEvent.objects.get(action=Action.STAFF_MFA_FAILED)
    assert event.outcome == Outcome.FAILURE and event.actor_id == agent.pk
    assert event.data["authenticator"] == "totp"
    assert not AuditEvent.objects.filter(action=Action.STAFF_SIGNED_IN).exists()


def test_sign_out_is_recorded(mfa_client, agent) -> None:  # type: ignore[no-untyped-def]
    mfa_client(agent).post("/accounts/logout/")
    assert AuditEvent.objects.get(action=Action.STAFF_SIGNED_OUT).actor_id == agent.pk

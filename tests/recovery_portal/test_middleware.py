"""recovery_portal/middleware.py: public views never load the session's user; private ones
still send the anonymous to sign-in and staff without MFA to enrolment."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import UserFactory

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

"""Sign-in throttling: guessing a staff password stops being possible after a few tries."""

from __future__ import annotations

import pytest

from tests.factories import STAFF_PASSWORD

pytestmark = pytest.mark.django_db


def test_sign_in_is_throttled_after_repeated_failures_for_one_account(client, agent) -> None:  # type: ignore[no-untyped-def]
    # given five wrong passwords for the agent
    for attempt in range(5):
        response = client.post(
            "/accounts/login/", {"login": "agent", "password": f"wrong-{attempt}"}
        )
        assert response.status_code == 200
    # when the right password comes next
    response = client.post("/accounts/login/", {"login": "agent", "password": STAFF_PASSWORD})
    # then it is refused all the same
    assert b"Too many failed login attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_failed_sign_in_does_not_say_whether_the_account_exists(client, agent) -> None:  # type: ignore[no-untyped-def]
    known = client.post("/accounts/login/", {"login": "agent", "password": "wrong-password-1"})
    unknown = client.post("/accounts/login/", {"login": "nobody", "password": "wrong-password-1"})
    assert known.status_code == unknown.status_code == 200
    assert b"not correct" in known.content and b"not correct" in unknown.content

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user_model

from tests.factories import TicketFactory

pytestmark = pytest.mark.django_db


def test_queue_lists_open_tickets_for_an_agent(mfa_client, agent) -> None:  # type: ignore[no-untyped-def]
    # given
    TicketFactory.create_batch(3)
    TicketFactory(status="closed", reference="RP-CLOSED1")
    client = mfa_client(agent)
    # when
    response = client.get("/staff/queue/")
    # then
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count("RP-T") == 3
    assert "RP-CLOSED1" not in body


def test_queue_query_count_does_not_grow_with_rows(mfa_client, agent, django_assert_num_queries):  # type: ignore[no-untyped-def]
    client = mfa_client(agent)
    TicketFactory.create_batch(2)
    client.get("/staff/queue/")  # warm the session
    with django_assert_num_queries(7) as few:
        client.get("/staff/queue/")
    TicketFactory.create_batch(20)
    with django_assert_num_queries(len(few.captured_queries)):
        client.get("/staff/queue/")


def test_queue_redirects_anonymous_to_sign_in(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/staff/queue/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_queue_is_forbidden_to_a_role_without_it(mfa_client, auditor) -> None:  # type: ignore[no-untyped-def]
    assert mfa_client(auditor).get("/staff/queue/").status_code == 403


def test_queue_is_forbidden_to_an_outsider(mfa_client, outsider) -> None:  # type: ignore[no-untyped-def]
    assert mfa_client(outsider).get("/staff/queue/").status_code == 403


def test_queue_rejects_post(mfa_client, agent) -> None:  # type: ignore[no-untyped-def]
    assert mfa_client(agent).post("/staff/queue/").status_code == 405


def test_staff_pages_require_mfa_enrolment(mfa_client, agent) -> None:  # type: ignore[no-untyped-def]
    # given an agent whose authenticator was removed
    Authenticator.objects.filter(user=agent).delete()
    # when
    response = mfa_client(agent).get("/staff/queue/")
    # then
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/2fa/totp/activate")


def test_no_self_signup(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/accounts/signup/",
        {
            "username": "eve",
            "email": "eve@evil.example",
            "password1": "x" * 20,
            "password2": "x" * 20,
        },
    )
    assert not get_user_model().objects.filter(username="eve").exists()
    assert response.status_code in (200, 302, 403)

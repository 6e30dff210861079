"""CSRF is enforced on every POST route: a form posted without the token is refused (403) for
the visitor who could otherwise act, and nothing changes."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AuditEvent
from tests.conftest import sign_in
from tests.security.test_authorization_matrix import MATRIX
from tests.security.urlmatrix import fill, routes

pytestmark = pytest.mark.django_db

POSTS = [name for name, method in MATRIX if method == "POST"]


def _actor(name: str) -> str:
    """Whom the route serves: the public, the manager of record, or an agent."""
    if name.startswith("public_") or name == "set_language":
        return "anonymous"
    return "manager" if name.startswith("manager_") else "agent"


@pytest.mark.parametrize("name", POSTS)
def test_post_without_csrf_token_is_refused(cast, name: str) -> None:  # type: ignore[no-untyped-def]
    # given a browser of someone the route serves, with a CSRF cookie but no token in the form
    client = Client(enforce_csrf_checks=True)
    person = cast["people"][_actor(name)]
    if person is not None:
        sign_in(client, person)
    client.get("/")  # the CSRF cookie is set
    pattern = next(p for n, p, _ in routes() if n == name)
    before = AuditEvent.objects.count()
    # when the form is posted without the token
    response = client.post(
        fill(pattern, cast["case"]), {"t": cast["case"]["token"], "decision": "confirm"}
    )
    # then
    assert response.status_code == 403
    assert AuditEvent.objects.count() == before


def test_sign_in_without_csrf_token_is_refused(agent) -> None:  # type: ignore[no-untyped-def]
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")
    response = client.post(
        "/accounts/login/", {"login": "agent", "password": "correct-horse-battery-staple-42"}
    )
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_post_with_the_csrf_token_is_accepted(cast) -> None:  # type: ignore[no-untyped-def]
    """The refusals above are about the token, not the route: with it, the agent's claim works."""
    client = Client(enforce_csrf_checks=True)
    sign_in(client, cast["people"]["agent"])
    client.get("/")
    token = client.cookies["csrftoken"].value
    response = client.post("/status/leave/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302

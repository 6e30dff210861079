"""The auditor can act on nothing: every staff action in the URLconf answers 403 (or 405)."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from audit.models import AuditEvent, Outcome
from tests.factories import TicketFactory

pytestmark = pytest.mark.django_db

# Sign-in, MFA and language are the auditor's own account, not actions on a case.
_NOT_ACTIONS = ("accounts/", "admin/", "i18n/", "health/")


def _staff_routes() -> list[str]:
    def walk(patterns, prefix=""):  # type: ignore[no-untyped-def]
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern), p.callback

    return [
        route
        for route, view in walk(get_resolver().url_patterns)
        if getattr(view, "login_required", True) and not route.startswith(_NOT_ACTIONS)
    ]


def _fill(route: str, ticket) -> str:  # type: ignore[no-untyped-def]
    return "/" + (
        route.replace("<int:pk>", str(ticket.pk))
        .replace("<str:ref>", ticket.reference)
        .replace("<slug:ref>", ticket.reference)
    )


def test_every_staff_url_is_known_to_this_test() -> None:
    # A new staff route with another kind of parameter must be taught to _fill first.
    for route in _staff_routes():
        assert "<" not in _fill(route, TicketFactory.build(pk=1, reference="RP-X")), route


def test_auditor_posts_to_every_staff_url_and_changes_nothing(mfa_client, auditor) -> None:  # type: ignore[no-untyped-def]
    # given a case waiting for approval, and the auditor signed in
    ticket = TicketFactory(status="verified", reference="RP-RO0001")
    client = mfa_client(auditor)
    before = AuditEvent.objects.count()
    # when they POST to every staff URL
    answers = {
        url: client.post(url).status_code for url in (_fill(r, ticket) for r in _staff_routes())
    }
    # then nothing was allowed (a URL that names no case acts on a one-time link the auditor
    # does not hold: "no such link"), and nothing happened to the case
    allowed = {url: code for url, code in answers.items() if code not in (403, 405)}
    assert {
        url: code
        for url, code in allowed.items()
        if code != 404 or ticket.reference in url or f"/{ticket.pk}/" in url
    } == {}
    ticket.refresh_from_db()
    assert ticket.status == "verified" and ticket.assigned_to is None
    new = AuditEvent.objects.order_by("id")[before:]
    assert all(e.outcome != Outcome.SUCCESS for e in new), [e.action for e in new]

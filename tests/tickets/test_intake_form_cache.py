"""The empty request form is rendered once per language and process (the "fragments" cache):
it must stay the empty form for everybody, in the visitor's language, whatever came before."""

from __future__ import annotations

import re

import pytest
from django.core.cache import caches
from django.urls import reverse

from tests.tickets.test_public_views import valid_post

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_fragments() -> None:
    caches["fragments"].clear()


def fields_of(response) -> str:  # type: ignore[no-untyped-def]
    """The form's fields as rendered, without the per-visitor CSRF token."""
    html = response.content.decode()
    start = html.index('<fieldset class="group">')
    end = html.index('<button type="submit">', start)
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html[start:end])


def test_empty_form_is_the_same_rendered_or_cached(client) -> None:  # type: ignore[no-untyped-def]
    # given: the first visitor renders the form, which fills the cache
    first = client.get(reverse("public_request"))
    # when: the next visitor is served from the cache
    second = client.get(reverse("public_request"))
    # then: the same fields, and every field of the IT request template is there
    assert first.status_code == second.status_code == 200
    assert fields_of(first) == fields_of(second)
    for name in valid_post():
        assert f'name="{name}"' in fields_of(second)


def test_a_refused_submission_never_reaches_the_next_visitors_form(client) -> None:  # type: ignore[no-untyped-def]
    # given: a cached empty form, then a submission refused with the visitor's own values
    client.get(reverse("public_request"))
    refused = client.post(
        reverse("public_request_submit"),
        valid_post(full_name="Eve Intruder-Marker", upn="eve@elsewhere.example"),
    )
    assert refused.status_code == 400
    assert "Eve Intruder-Marker" in refused.content.decode()  # shown back to its sender only
    # when: another visitor opens the form
    page = client.get(reverse("public_request"))
    # then: nothing of the refused submission, no error shown
    html = page.content.decode()
    assert "Eve Intruder-Marker" not in html
    assert "eve@elsewhere.example" not in html
    assert 'aria-invalid="true"' not in html


def test_each_language_gets_its_own_cached_form(client) -> None:  # type: ignore[no-untyped-def]
    # given: the English form cached first
    english = fields_of(client.get(reverse("public_request"), HTTP_ACCEPT_LANGUAGE="en"))
    # when: Italian and French visitors come next
    italian = fields_of(client.get(reverse("public_request"), HTTP_ACCEPT_LANGUAGE="it"))
    french = fields_of(client.get(reverse("public_request"), HTTP_ACCEPT_LANGUAGE="fr"))
    # then: each in its own language, none served the other's
    assert "Full name" in english
    assert "Nome e cognome" in italian
    assert "Nom complet" in french
    assert len({english, italian, french}) == 3

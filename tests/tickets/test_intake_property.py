"""Arbitrary input thrown at the public forms: never a 500; always a clear error or a ticket."""

from __future__ import annotations

import re

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tickets.models import Ticket

pytestmark = pytest.mark.django_db

# Any text a browser could send (lone surrogates cannot be encoded in a request at all).
ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
LONG_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=250, max_size=2500)
VALID = {
    "full_name": st.sampled_from(["Mario Rossi", "Zoë O'Brien-Łukasz", "李小龍"]),
    "upn": st.from_regex(r"[a-z](\.?[a-z0-9]){0,20}@contoso\.example", fullmatch=True),
    "department": st.just("Finance"),
    "urgency": st.sampled_from(["low", "normal", "high", "critical"]),
    "blocked_work": st.just(""),
    "alternate_phone": st.sampled_from(["+39 333 123 4567", "(555) 010-2030"]),
    "alternate_email": st.sampled_from(["me@example.org", ""]),
    "what_happened": st.sampled_from(["lost", "stolen", "broken", "replaced", "other"]),
    "methods_still_working": st.just(["none"])
    | st.lists(st.sampled_from(["sms", "voice", "fido2", "email", "other_app"]), unique=True),
    "backup_enabled": st.sampled_from(["yes", "no", "unknown"]),
    "preferred_verification": st.sampled_from(["video", "in_person", "callback"]),
    "details": st.just(""),
    "website": st.just(""),
}


# Arbitrary text, a list of texts (a repeated field), a huge text, or the field left out.
ANY_VALUE = st.one_of(ANY_TEXT, st.lists(ANY_TEXT, max_size=3), LONG_TEXT, st.none())
VALID_FORMS = st.fixed_dictionaries(VALID)


def _merge(base: dict[str, object], changes: dict[str, object]) -> dict[str, object]:
    merged = {**base, **changes}
    return {k: v for k, v in merged.items() if v is not None}


# A valid request with one to three fields spoiled, or a request of nothing but noise.
FORMS = st.one_of(
    st.builds(
        _merge,
        VALID_FORMS,
        st.dictionaries(st.sampled_from(list(VALID)), ANY_VALUE, min_size=1, max_size=3),
    ),
    st.builds(_merge, st.just({}), st.fixed_dictionaries(dict.fromkeys(VALID, ANY_VALUE))),
)


@pytest.fixture
def open_limits(settings):  # type: ignore[no-untyped-def]
    settings.RP_INTAKE_RATE_PER_IP = "1000000/h"
    settings.RP_INTAKE_RATE_PER_UPN = "1000000/d"
    settings.RP_STATUS_RATE_PER_IP = "1000000/h"
    settings.RP_STATUS_RATE_PER_REFERENCE = "1000000/h"


@hsettings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=FORMS)
def test_request_submit_never_fails_on_arbitrary_input(open_limits, data) -> None:  # type: ignore[no-untyped-def]
    # given any combination of fields, values and sizes
    before = Ticket.objects.count()
    # when it is posted to the request form (the client raises on any server error)
    response = Client().post(reverse("public_request_submit"), data)
    html = response.content.decode()
    # then either a ticket was filed and its reference shown, or a clear error was shown
    if response.status_code == 200:
        reference = re.search(r'id="reference">([^<]+)<', html).group(1)  # type: ignore[union-attr]
        assert Ticket.objects.filter(reference=reference).exists()
        assert Ticket.objects.count() == before + 1
    else:
        assert response.status_code in (400, 413)
        assert 'class="error-summary"' in html
        assert Ticket.objects.count() == before


@hsettings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=VALID_FORMS)
def test_request_submit_files_every_valid_request(open_limits, data) -> None:  # type: ignore[no-untyped-def]
    response = Client().post(reverse("public_request_submit"), data)
    assert response.status_code == 200
    reference = re.search(r'id="reference">([^<]+)<', response.content.decode()).group(1)  # type: ignore[union-attr]
    ticket = Ticket.objects.get(reference=reference)
    assert ticket.upn == data["upn"]
    assert ticket.methods_still_working == data["methods_still_working"]


@hsettings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(reference=ANY_TEXT | st.lists(ANY_TEXT), claim_code=ANY_TEXT | st.lists(ANY_TEXT))
def test_status_check_never_fails_on_arbitrary_input(open_limits, reference, claim_code) -> None:  # type: ignore[no-untyped-def]
    response = Client().post(
        reverse("public_status_check"), {"reference": reference, "claim_code": claim_code}
    )
    assert response.status_code == 400
    assert 'class="error-summary"' in response.content.decode()


@hsettings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(step=ANY_TEXT | st.sampled_from(["account", "backup", "other_method"]), answer=ANY_TEXT)
def test_triage_answer_never_fails_on_arbitrary_input(step, answer) -> None:  # type: ignore[no-untyped-def]
    response = Client().post(reverse("public_answer"), {"step": step, "answer": answer})
    assert response.status_code in (302, 400)


@hsettings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(token=ANY_TEXT)
# Two hundred refusals from one address: the per-IP throttle (tests/security/test_throttles.py)
# is raised here so that each arbitrary token meets the token check itself.
@override_settings(RP_NOT_ME_LINK_RATE_PER_IP="100000/h")
def test_not_me_link_never_fails_on_arbitrary_tokens(token) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    assert client.get(reverse("public_not_me"), {"t": token}).status_code == 400
    assert client.post(reverse("public_not_me_report"), {"t": token}).status_code == 400

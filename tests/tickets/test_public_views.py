"""The public pages: triage, the request form, the status page, the "this wasn't me" link."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from audit.models import AuditEvent
from graphops.models import GraphOperation, Kind
from tests.tickets.casework import deliver_mail
from tickets import intake
from tickets.intake import triage as intake_triage
from tickets.models import NotMeLink, Status, Ticket, TriageDeflection, TriagePath

pytestmark = pytest.mark.django_db

UPN = "mario.rossi@contoso.example"


def valid_post(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "full_name": "Mario Rossi",
        "upn": UPN,
        "department": "Finance",
        "urgency": "high",
        "blocked_work": "Month-end close",
        "alternate_phone": "+39 333 123 4567",
        "alternate_email": "mario.personal@example.org",
        "what_happened": "lost",
        "methods_still_working": ["none"],
        "backup_enabled": "no",
        "preferred_verification": "video",
        "details": "Lost it on the train.",
        "website": "",
    }
    data.update(overrides)
    return data


def submit(client, **overrides: object):  # type: ignore[no-untyped-def]
    return client.post(reverse("public_request_submit"), valid_post(**overrides))


def shown_secrets(response) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    html = response.content.decode()
    reference = re.search(r'id="reference">([^<]+)<', html).group(1)  # type: ignore[union-attr]
    code = re.search(r'id="claim-code">([^<]+)<', html).group(1)  # type: ignore[union-attr]
    return reference, code


def page_shape(response) -> str:  # type: ignore[no-untyped-def]
    """The page without what legitimately differs: CSRF tokens and the echoed reference."""
    html = response.content.decode()
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)
    return re.sub(r'value="RP-[^"]*"', "", html)


# --- Triage --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "lands_on", "path"),
    [
        ([("account", "personal")], "public_guide_personal", TriagePath.PERSONAL_ACCOUNT),
        (
            [("account", "work"), ("backup", "yes")],
            "public_guide_restore",
            TriagePath.BACKUP_RESTORE,
        ),
        (
            [("account", "work"), ("backup", "unknown"), ("other_method", "yes")],
            "public_guide_other_method",
            TriagePath.OTHER_METHOD,
        ),
        (
            [("account", "work"), ("backup", "no"), ("other_method", "no")],
            "public_request",
            TriagePath.REQUEST_FORM,
        ),
    ],
)
def test_triage_answer_leads_down_the_seeds_path_and_counts_it(
    client, answers, lands_on, path
) -> None:  # type: ignore[no-untyped-def]
    # given a visitor on the start page
    assert client.get(reverse("public_start")).status_code == 200
    # when they answer each question in turn
    response = None
    for step, answer in answers:
        response = client.post(reverse("public_answer"), {"step": step, "answer": answer})
        assert response.status_code == 302
    # then the last answer leads to the path's page, which renders, and the path was counted once
    assert response is not None and response["Location"] == reverse(lands_on)
    assert client.get(response["Location"]).status_code == 200
    assert TriageDeflection.objects.get(path=path).count == 1
    assert TriageDeflection.objects.exclude(path=path).count() == 0


def test_triage_answer_without_a_choice_shows_a_clear_error(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post(reverse("public_answer"), {"step": "backup"})
    assert response.status_code == 400
    assert "Choose one of the answers." in response.content.decode()
    assert TriageDeflection.objects.count() == 0


def test_triage_answer_counts_without_personal_data(client) -> None:  # type: ignore[no-untyped-def]
    # when two people take the personal-account path
    for _ in range(2):
        client.post(reverse("public_answer"), {"step": "account", "answer": "personal"})
    # then one row holds a path, a day and a count: nothing else
    row = TriageDeflection.objects.get()
    assert row.count == 2
    assert {f.name for f in TriageDeflection._meta.get_fields()} == {"id", "path", "day", "count"}
    # and the audit events for the reports carry the path, no address, no browser
    events = AuditEvent.objects.filter(action="triage.deflected")
    assert [e.data for e in events] == [{"path": "personal_account"}] * 2
    assert all(not e.ip and not e.user_agent and e.actor_id is None for e in events)


def test_triage_counting_is_capped_per_address(client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # given at most two counted answers an hour from one address
    monkeypatch.setattr(intake_triage, "TRIAGE_COUNT_RATE", "2/h")
    # when a script answers five times
    for _ in range(5):
        response = client.post(reverse("public_answer"), {"step": "backup", "answer": "yes"})
        assert response.status_code == 302  # the person is still guided every time
    # then only two were counted
    assert TriageDeflection.objects.get().count == 2
    assert AuditEvent.objects.filter(action="triage.deflected").count() == 2


def test_triage_reaching_the_form_is_counted_but_not_as_self_help(client) -> None:  # type: ignore[no-untyped-def]
    client.post(reverse("public_answer"), {"step": "other_method", "answer": "no"})
    assert TriageDeflection.objects.get().path == TriagePath.REQUEST_FORM
    assert not AuditEvent.objects.filter(action="triage.deflected").exists()


@pytest.mark.parametrize(
    "name",
    ["public_guide_personal", "public_guide_restore", "public_guide_other_method"],
)
def test_guides_render_without_counting(client, name) -> None:  # type: ignore[no-untyped-def]
    response = client.get(reverse(name))
    assert response.status_code == 200
    assert TriageDeflection.objects.count() == 0


def test_restore_guide_carries_the_seeds_caveats(client) -> None:  # type: ignore[no-untyped-def]
    html = client.get(reverse("public_guide_restore")).content.decode()
    assert "same recovery account" in html
    assert "cannot be restored on Android" in html
    assert "remove them first" in html


@pytest.mark.parametrize("name", ["public_answer", "public_request_submit", "public_status_check"])
def test_post_only_views_refuse_get(client, name) -> None:  # type: ignore[no-untyped-def]
    assert client.get(reverse(name)).status_code == 405


@pytest.mark.parametrize("name", ["public_start", "public_request", "public_status"])
def test_get_only_views_refuse_post(client, name) -> None:  # type: ignore[no-untyped-def]
    assert client.post(reverse(name)).status_code == 405


# --- The request ---------------------------------------------------------------------------


def test_request_submit_files_a_ticket_and_shows_reference_and_code_once(client) -> None:  # type: ignore[no-untyped-def]
    # when a complete request is sent
    response = submit(client)
    # then it is filed, and the reference and claim code are shown on a page nobody caches
    assert response.status_code == 200
    reference, code = shown_secrets(response)
    ticket = Ticket.objects.get(reference=reference)
    assert ticket.status == Status.NEW
    assert ticket.upn == UPN
    assert ticket.methods_still_working == ["none"]
    assert "no-store" in response["Cache-Control"]
    assert intake.find_ticket_by_claim(reference, code) == ticket
    # and the directory lookup was requested for it
    assert GraphOperation.objects.filter(
        kind=Kind.DIRECTORY_LOOKUP, target_upn=UPN, correlation=reference
    ).exists()
    assert AuditEvent.objects.filter(action="ticket.submitted", ticket_ref=reference).exists()


def test_request_submit_refuses_an_address_outside_the_tenant(client) -> None:  # type: ignore[no-untyped-def]
    response = submit(client, upn="mario@gmail.com")
    assert response.status_code == 400
    html = response.content.decode()
    assert "There is a problem" in html
    assert "Use your work address: it ends with @contoso.example." in html
    assert Ticket.objects.count() == 0


def test_request_submit_needs_some_way_to_reach_the_requester(client) -> None:  # type: ignore[no-untyped-def]
    response = submit(client, alternate_phone="", alternate_email="")
    assert response.status_code == 400
    assert "Give a phone number or a personal e-mail address" in response.content.decode()
    assert Ticket.objects.count() == 0


def test_request_submit_error_summary_links_each_field(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post(reverse("public_request_submit"), {"website": ""})
    html = response.content.decode()
    assert response.status_code == 400
    for field in ("full_name", "upn", "department", "urgency", "what_happened"):
        assert f'href="#id_{field}"' in html
    assert 'aria-invalid="true"' in html


def test_request_submit_honeypot_is_refused_with_a_clear_error(client) -> None:  # type: ignore[no-untyped-def]
    response = submit(client, website="http://spam.example")
    assert response.status_code == 400
    assert "Leave this field empty" in response.content.decode()
    assert Ticket.objects.count() == 0


def test_request_submit_refuses_oversized_fields(client) -> None:  # type: ignore[no-untyped-def]
    response = submit(client, details="x" * 2001)
    assert response.status_code == 400
    assert "Keep this under 2000 characters" in response.content.decode()
    assert Ticket.objects.count() == 0


def test_request_submit_refuses_an_oversized_body(client) -> None:  # type: ignore[no-untyped-def]
    response = submit(client, details="x" * 20000)
    assert response.status_code == 413
    assert Ticket.objects.count() == 0


def test_request_submit_requires_csrf(client) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(reverse("public_request_submit"), valid_post())
    assert response.status_code == 403
    assert Ticket.objects.count() == 0


def test_request_form_page_is_public_and_translated(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get(reverse("public_request"), HTTP_ACCEPT_LANGUAGE="it")
    assert response.status_code == 200
    assert '<html lang="it">' in response.content.decode()


# --- Status page ---------------------------------------------------------------------------


def test_status_check_with_reference_and_code_shows_the_case(client) -> None:  # type: ignore[no-untyped-def]
    # given a filed request
    reference, code = shown_secrets(submit(client))
    # when the requester enters the reference and the claim code (typed loosely)
    response = client.post(
        reverse("public_status_check"),
        {"reference": reference.lower(), "claim_code": code.replace("-", " ").lower()},
    )
    # then they see where the case stands, on a page nobody caches
    assert response.status_code == 302
    page = client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert reference in html
    assert 'aria-current="step"' in html
    assert "no-store" in page["Cache-Control"]


def test_status_check_answers_the_same_for_unknown_reference_and_wrong_code(client) -> None:  # type: ignore[no-untyped-def]
    reference, code = shown_secrets(submit(client))
    wrong_code = client.post(
        reverse("public_status_check"),
        {"reference": reference, "claim_code": "ABCD-EFGH-JKMN-PQRS"},
    )
    unknown_ref = client.post(
        reverse("public_status_check"),
        {"reference": "RP-ZZZZ-ZZZZ", "claim_code": code},
    )
    assert wrong_code.status_code == unknown_ref.status_code == 400
    assert page_shape(wrong_code) == page_shape(unknown_ref)


def test_status_case_without_a_grant_goes_back_to_the_form(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get(reverse("public_status_case"))
    assert response.status_code == 302
    assert response["Location"] == reverse("public_status")


def test_status_leave_forgets_the_case(client) -> None:  # type: ignore[no-untyped-def]
    reference, code = shown_secrets(submit(client))
    client.post(reverse("public_status_check"), {"reference": reference, "claim_code": code})
    client.post(reverse("public_status_leave"))
    assert client.get(reverse("public_status_case")).status_code == 302


@pytest.mark.parametrize(
    ("status", "stage_text", "checklist"),
    [
        (Status.NEW, "We have your request.", False),
        (Status.IN_VERIFICATION, "An agent is checking your identity.", False),
        (Status.VERIFIED, "A second person now approves", False),
        (Status.EXECUTING, "The recovery is being carried out.", False),
        (Status.EXECUTED, "Your access is ready.", True),
        (Status.RESTORED, "Your access was restored.", True),
        (Status.CLOSED, "This request is closed.", True),
        (Status.FROZEN, "on hold for a security check", False),
    ],
)
def test_status_case_shows_stage_next_steps_and_checklist_when_done(
    client, status, stage_text, checklist
) -> None:  # type: ignore[no-untyped-def]
    # given a request in some state
    reference, code = shown_secrets(submit(client))
    Ticket.objects.filter(reference=reference).update(status=status)
    client.post(reverse("public_status_check"), {"reference": reference, "claim_code": code})
    # when the requester opens the status
    html = client.get(reverse("public_status_case")).content.decode()
    # then the next steps fit the stage, and the post-recovery checklist shows once it is done
    assert stage_text in html
    assert ("Turn on cloud backup in Authenticator" in html) is checklist
    # and no pass is offered without a delivery waiting for the requester
    assert "Show my Temporary Access Pass" not in html


# --- "This wasn't me" ----------------------------------------------------------------------


def _not_me_token(ticket: Ticket) -> str:
    token = intake.mint_not_me_token(
        ticket, recipient=NotMeLink.Recipient.ACCOUNT, sent_to=ticket.upn
    )
    assert token is not None
    return token


def test_not_me_link_opening_changes_nothing(client) -> None:  # type: ignore[no-untyped-def]
    reference, _code = shown_secrets(submit(client))
    ticket = Ticket.objects.get(reference=reference)
    token = _not_me_token(ticket)
    response = client.get(reverse("public_not_me"), {"t": token})
    assert response.status_code == 200
    assert reference in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW


def test_not_me_report_freezes_the_ticket_and_alerts_security(
    client, security, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    # given a filed request and the link mailed to the account holder
    reference, _code = shown_secrets(submit(client))
    ticket = Ticket.objects.get(reference=reference)
    token = _not_me_token(ticket)
    deliver_mail()  # the alternate contact's reference
    mail.outbox.clear()
    # when the account holder confirms it was not them
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("public_not_me_report"), {"t": token})
    deliver_mail()
    # then the ticket is frozen and flagged, and the security officers are mailed
    assert response.status_code == 200
    ticket.refresh_from_db()
    assert ticket.status == Status.FROZEN
    assert ticket.flagged
    assert [m.to for m in mail.outbox] == [[security.email]]
    assert reference in mail.outbox[0].subject


def test_not_me_link_works_once(client) -> None:  # type: ignore[no-untyped-def]
    reference, _code = shown_secrets(submit(client))
    token = _not_me_token(Ticket.objects.get(reference=reference))
    assert client.post(reverse("public_not_me_report"), {"t": token}).status_code == 200
    again = client.post(reverse("public_not_me_report"), {"t": token})
    assert again.status_code == 400
    assert "This link cannot be used" in again.content.decode()
    assert client.get(reverse("public_not_me"), {"t": token}).status_code == 400


def test_not_me_link_refuses_a_forged_token(client) -> None:  # type: ignore[no-untyped-def]
    reference, _code = shown_secrets(submit(client))
    token = _not_me_token(Ticket.objects.get(reference=reference))
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.post(reverse("public_not_me_report"), {"t": forged}).status_code == 400
    assert Ticket.objects.get(reference=reference).status == Status.NEW


def test_status_case_polled_by_htmx_after_the_grant_leaves_the_page_alone(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get(reverse("public_status_case"), HTTP_HX_REQUEST="true")
    assert response.status_code == 204


def test_status_case_polls_only_while_the_case_moves(client) -> None:  # type: ignore[no-untyped-def]
    reference, code = shown_secrets(submit(client))
    client.post(reverse("public_status_check"), {"reference": reference, "claim_code": code})
    assert "hx-trigger" in client.get(reverse("public_status_case")).content.decode()
    Ticket.objects.filter(reference=reference).update(status=Status.EXECUTED)
    assert "hx-trigger" not in client.get(reverse("public_status_case")).content.decode()

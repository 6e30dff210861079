"""tickets.intake: the request, the claim code, duplicates, the directory lookup's outcome."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
import redis
from django.conf import settings
from django.core import mail
from django.utils import translation

from graphops import ledger
from graphops.models import GraphOperation, Kind
from tests.tickets.casework import deliver_mail
from tickets import intake, policy
from tickets.models import (
    DirectoryState,
    MailKind,
    NotMeLink,
    OutboundMail,
    Status,
    Ticket,
    TriageDeflection,
    TriagePath,
)

pytestmark = pytest.mark.django_db

UPN = "mario.rossi@contoso.example"

REQUEST = intake.IntakeRequest(
    full_name="Mario Rossi",
    upn=UPN,
    department="Finance",
    urgency="high",
    blocked_work="Month-end close",
    alternate_phone="+39 333 123 4567",
    alternate_email="mario.personal@example.org",
    what_happened="lost",
    methods_still_working=["none"],
    backup_enabled="no",
    preferred_verification="video",
    details="",
)

FOUND_RESULT = {
    "user": {
        "id": "u-1",
        "userPrincipalName": UPN,
        "displayName": "Mario Rossi",
        "accountEnabled": True,
        "department": "Finance",
        "mail": "Mario.Rossi@contoso.example",
    },
    "manager": {
        "id": "u-2",
        "displayName": "Giulia Bianchi",
        "userPrincipalName": "giulia.bianchi@contoso.example",
        "mail": "giulia.bianchi@contoso.example",
    },
    "is_privileged": False,
    "privileged_roles": [],
    "methods": [{"id": "m-1", "type": "microsoftAuthenticator", "displayName": "Pixel 7"}],
}


def lookup_of(ticket: Ticket) -> GraphOperation:
    return GraphOperation.objects.get(kind=Kind.DIRECTORY_LOOKUP, correlation=ticket.reference)


def finish_lookup(operation: GraphOperation, capture, *, result=None, error_code="") -> None:  # type: ignore[no-untyped-def]
    """The worker's side of the lookup, through graphops' own ledger (signal after commit),
    then of the mail it owes."""
    claimed = ledger.claim(str(operation.pk))
    assert claimed is not None
    with capture(execute=True):
        if result is not None:
            ledger.succeed(claimed, success=ledger.Success(result=result))
        else:
            ledger.fail(claimed, code=error_code, message="simulated outcome")
    deliver_mail()


# --- Claim codes ---------------------------------------------------------------------------


def test_new_claim_code_has_at_least_64_bits_of_entropy() -> None:
    codes = {intake.new_claim_code() for _ in range(2000)}
    sample = next(iter(codes))
    symbols = intake.normalize_code(sample)
    assert len(codes) == 2000
    assert len(symbols) == intake.CLAIM_CODE_LENGTH
    assert set(symbols) <= set(intake.CODE_ALPHABET)
    assert len(intake.CODE_ALPHABET) ** intake.CLAIM_CODE_LENGTH >= 2**64


def test_hash_claim_code_is_keyed_and_bound_to_the_reference(settings) -> None:
    code = intake.new_claim_code()
    stored = intake.hash_claim_code("RP-AAAA-BBBB", code)
    assert code not in stored and intake.normalize_code(code) not in stored
    assert intake.claim_code_matches("RP-AAAA-BBBB", stored, code)
    assert intake.claim_code_matches("RP-AAAA-BBBB", stored, code.lower().replace("-", " "))
    assert not intake.claim_code_matches("RP-AAAA-BBBC", stored, code)
    # a rotated key still accepts codes hashed under the previous one
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "another-secret-key-0123456789-0123456789"
    assert intake.hash_claim_code("RP-AAAA-BBBB", code) != stored
    assert intake.claim_code_matches("RP-AAAA-BBBB", stored, code)


def test_find_ticket_by_claim_refuses_wrong_code_and_unknown_reference() -> None:
    receipt = intake.submit_request(REQUEST)
    reference = receipt.ticket.reference
    assert intake.find_ticket_by_claim(reference, receipt.claim_code) == receipt.ticket
    assert intake.find_ticket_by_claim(reference, intake.new_claim_code()) is None
    assert intake.find_ticket_by_claim("RP-ZZZZ-ZZZZ", receipt.claim_code) is None
    assert intake.find_ticket_by_claim("nonsense", receipt.claim_code) is None


# --- Submitting ----------------------------------------------------------------------------


def test_submit_request_stores_the_ticket_then_requests_the_lookup() -> None:
    receipt = intake.submit_request(REQUEST)
    ticket = receipt.ticket
    assert ticket.status == Status.NEW
    assert ticket.directory_state == DirectoryState.PENDING
    assert ticket.claim_code_hash.startswith("hmac-sha256$")
    assert ticket.reference.startswith("RP-") and len(ticket.reference) == 12
    assert lookup_of(ticket).target_upn == UPN


def test_submit_request_starts_the_sla_clock_for_the_urgency() -> None:
    # given / when
    ticket = intake.submit_request(REQUEST).ticket
    # then the case is due the policy's time for its urgency after it arrived
    expected = policy.current().sla(ticket.urgency)
    assert abs((ticket.sla_due_at - ticket.created_at) - expected) < dt.timedelta(seconds=5)


def test_submit_request_links_a_second_open_request_and_flags_both() -> None:
    # given an open request for the account
    first = intake.submit_request(REQUEST).ticket
    # when another one arrives for the same account (whatever its case)
    second = intake.submit_request(dataclasses.replace(REQUEST, upn=UPN.upper())).ticket
    third = intake.submit_request(REQUEST).ticket
    # then each later one is linked to the first, and all are flagged for the agent
    first.refresh_from_db()
    assert second.duplicate_of == first and third.duplicate_of == first
    assert first.flagged and second.flagged and third.flagged
    assert first.reference in second.flag_reason
    assert second.reference in first.flag_reason
    assert Ticket.objects.filter(upn=UPN).count() == 3


def test_submit_request_does_not_link_to_a_closed_request() -> None:
    first = intake.submit_request(REQUEST).ticket
    Ticket.objects.filter(pk=first.pk).update(status=Status.CLOSED)
    second = intake.submit_request(REQUEST).ticket
    assert second.duplicate_of is None
    assert not second.flagged


def test_count_deflection_adds_up_per_path_and_day() -> None:
    intake.count_deflection(TriagePath.BACKUP_RESTORE)
    intake.count_deflection(TriagePath.BACKUP_RESTORE)
    intake.count_deflection(TriagePath.OTHER_METHOD)
    counts = dict(TriageDeflection.objects.values_list("path", "count"))
    assert counts == {TriagePath.BACKUP_RESTORE: 2, TriagePath.OTHER_METHOD: 1}


# --- Notifications -------------------------------------------------------------------------


def test_submit_request_leaves_the_alternate_contact_mail_to_the_worker(
    django_capture_on_commit_callbacks,
) -> None:  # type: ignore[no-untyped-def]
    # when a request is filed and its transaction commits
    with django_capture_on_commit_callbacks(execute=True):
        receipt = intake.submit_request(REQUEST)
    # then nothing is mailed from the request: the mail is owed, and its task for the worker
    # waits in the broker
    assert mail.outbox == []
    owed = OutboundMail.objects.get(ticket=receipt.ticket, kind=MailKind.REFERENCE)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queued = [json.loads(raw)["headers"] for raw in broker.lrange("celery", 0, -1)]
    assert {"task": "tickets.send_mail", "args": f"[{owed.pk}]"} in [
        {"task": h["task"], "args": h["argsrepr"]} for h in queued
    ]
    # (tests/faults/test_intake_mail.py: a real worker sends it, and after a broker outage)


def test_alternate_contact_mail_carries_the_reference_only() -> None:
    receipt = intake.submit_request(REQUEST)
    assert deliver_mail() == 1
    [message] = mail.outbox
    assert message.to == ["mario.personal@example.org"]
    assert receipt.ticket.reference in message.body
    assert intake.normalize_code(receipt.claim_code) not in intake.normalize_code(message.body)
    assert "not-me" not in message.body


def test_record_directory_lookup_stores_facts_and_warns_account_and_manager(
    django_capture_on_commit_callbacks,
) -> None:  # type: ignore[no-untyped-def]
    # given a filed request whose lookup the worker completes
    ticket = intake.submit_request(dataclasses.replace(REQUEST, alternate_email="")).ticket
    # when graphops reports the directory's answer
    finish_lookup(lookup_of(ticket), django_capture_on_commit_callbacks, result=FOUND_RESULT)
    # then the facts are on the ticket
    ticket.refresh_from_db()
    assert ticket.directory_state == DirectoryState.FOUND
    assert ticket.manager_upn == "giulia.bianchi@contoso.example"
    assert ticket.is_privileged is False
    assert ticket.directory_facts["methods"][0]["type"] == "microsoftAuthenticator"
    # and the account's own mailbox and the manager each got a "this wasn't me" link
    recipients = sorted(m.to[0] for m in mail.outbox)
    assert recipients == ["giulia.bianchi@contoso.example", "mario.rossi@contoso.example"]
    for message in mail.outbox:
        assert ticket.reference in message.subject
        assert "/not-me/?t=" in message.body
    assert NotMeLink.objects.filter(ticket=ticket).count() == 2


def test_record_directory_lookup_marks_a_privileged_account(
    django_capture_on_commit_callbacks,
) -> None:  # type: ignore[no-untyped-def]
    ticket = intake.submit_request(REQUEST).ticket
    privileged = {
        **FOUND_RESULT,
        "manager": None,
        "is_privileged": True,
        "privileged_roles": [{"displayName": "Global Administrator", "templateId": "62e9"}],
    }
    finish_lookup(lookup_of(ticket), django_capture_on_commit_callbacks, result=privileged)
    ticket.refresh_from_db()
    assert ticket.is_privileged is True
    assert ticket.manager_upn == ""
    assert ticket.directory_facts["privileged_roles"][0]["displayName"] == "Global Administrator"
    assert [m.to for m in mail.outbox if "not-me" in m.body] == [["mario.rossi@contoso.example"]]


def test_record_directory_lookup_for_an_unknown_account_mails_nobody(
    django_capture_on_commit_callbacks,
) -> None:  # type: ignore[no-untyped-def]
    ticket = intake.submit_request(dataclasses.replace(REQUEST, alternate_email="")).ticket
    finish_lookup(lookup_of(ticket), django_capture_on_commit_callbacks, error_code="not_found")
    ticket.refresh_from_db()
    assert ticket.directory_state == DirectoryState.NOT_FOUND
    assert mail.outbox == []


def test_record_directory_lookup_when_graph_fails_still_warns_the_mailbox(
    django_capture_on_commit_callbacks,
) -> None:  # type: ignore[no-untyped-def]
    # given a lookup that graphops gave up on (Graph unreachable)
    ticket = intake.submit_request(dataclasses.replace(REQUEST, alternate_email="")).ticket
    finish_lookup(lookup_of(ticket), django_capture_on_commit_callbacks, error_code="timeout")
    # then the ticket stays filed, marked unreachable, and the UPN's mailbox is still warned
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW
    assert ticket.directory_state == DirectoryState.UNREACHABLE
    assert [m.to for m in mail.outbox] == [[UPN]]


def test_record_directory_lookup_delivered_twice_mails_once(
    django_capture_on_commit_callbacks,
) -> None:  # type: ignore[no-untyped-def]
    from graphops.signals import operation_finished

    ticket = intake.submit_request(dataclasses.replace(REQUEST, alternate_email="")).ticket
    operation = lookup_of(ticket)
    finish_lookup(operation, django_capture_on_commit_callbacks, result=FOUND_RESULT)
    operation.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        operation_finished.send_robust(sender=GraphOperation, operation=operation)
    assert len(mail.outbox) == 2


def test_notify_account_and_manager_after_an_unreachable_lookup_adds_only_the_manager(
    django_capture_on_commit_callbacks,
) -> None:  # type: ignore[no-untyped-def]
    # given a first lookup that failed (mailbox warned), then a retry that found the account
    ticket = intake.submit_request(dataclasses.replace(REQUEST, alternate_email="")).ticket
    finish_lookup(lookup_of(ticket), django_capture_on_commit_callbacks, error_code="timeout")
    retry = GraphOperation.objects.create(
        kind=Kind.DIRECTORY_LOOKUP, target_upn=UPN, correlation=ticket.reference
    )
    finish_lookup(retry, django_capture_on_commit_callbacks, result=FOUND_RESULT)
    # then the account holder is not mailed twice; the manager now is
    assert sorted(m.to[0] for m in mail.outbox) == [
        "giulia.bianchi@contoso.example",
        "mario.rossi@contoso.example",
    ]


# --- "This wasn't me" on a case that can no longer be frozen -------------------------------


def test_report_not_me_after_restore_alerts_security_all_the_same(
    security, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    ticket = intake.submit_request(REQUEST).ticket
    token = intake.mint_not_me_token(ticket, recipient="manager", sent_to="boss@contoso.example")
    assert token is not None
    Ticket.objects.filter(pk=ticket.pk).update(status=Status.RESTORED)
    with django_capture_on_commit_callbacks(execute=True):
        result = intake.report_not_me(token)
    deliver_mail()
    assert result.status == Status.RESTORED
    [alert] = [m for m in mail.outbox if security.email in m.to]
    assert "URGENT" in alert.subject
    with pytest.raises(intake.NotMeLinkInvalid):
        intake.report_not_me(token)


def test_mails_are_written_in_the_language_of_the_request(
    django_capture_on_commit_callbacks,
) -> None:  # type: ignore[no-untyped-def]
    # given a request made in French
    with translation.override("fr"), django_capture_on_commit_callbacks(execute=True):
        ticket = intake.submit_request(REQUEST).ticket
    # when the worker mails the alternate contact and the lookup finishes (in a worker, whose
    # own language is English)
    deliver_mail()
    finish_lookup(lookup_of(ticket), django_capture_on_commit_callbacks, result=FOUND_RESULT)
    # then every mail about it is in French
    subjects = sorted(m.subject for m in mail.outbox)
    assert subjects[0].startswith("Demande de récupération")
    assert any(s.startswith("Une récupération a été demandée pour votre compte") for s in subjects)
    assert all("Bonjour" in m.body for m in mail.outbox)

"""Sending the outbox (tickets.notifications) over a real mail path: Django's SMTP backend
pointed first at a closed loopback port, then at a small SMTP sink listening on loopback
(tests/smtp.py). Every mail is owed as a row and sent by the worker's task, run here in this
process: the intake and the workflow survive a mail outage, the beat sends the mail later, with
working links whose tokens are never stored; a mail given up is on the record, and an
essential one flags its case."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from graphops.models import GraphOperation, Kind
from tests.fixtures_graph import free_port
from tests.smtp import SMTP_BACKEND, SmtpSink, body_of
from tests.tickets import casework
from tests.tickets.casework import make_manager, make_ticket
from tests.tickets.test_intake_graph import form
from tickets import intake, notifications, tasks, workflow
from tickets.models import (
    MailKind,
    MailState,
    ManagerConfirmation,
    NotMeLink,
    OutboundMail,
    Status,
    Ticket,
)

pytestmark = pytest.mark.django_db

DOMAIN = "contoso.example"
MANAGER = f"giulia.bianchi@{DOMAIN}"


@pytest.fixture
def mail_server_down(settings):  # type: ignore[no-untyped-def]
    """The SMTP backend pointed at a loopback port nobody listens on: every send raises."""
    settings.EMAIL_BACKEND = SMTP_BACKEND
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()
    settings.EMAIL_TIMEOUT = 2
    return settings


def _mail_server_up(settings, sink: SmtpSink) -> None:  # type: ignore[no-untyped-def]
    settings.EMAIL_PORT = sink.port


def _make_due(ticket: Ticket) -> None:
    """The back-off has passed (rather than waiting minutes in a test)."""
    OutboundMail.objects.filter(ticket=ticket, state=MailState.PENDING).update(
        next_attempt_at=timezone.now()
    )


def _notices(ticket: Ticket):  # type: ignore[no-untyped-def]
    return OutboundMail.objects.filter(ticket=ticket, kind=MailKind.RECOVERY_REQUESTED)


def _file_and_look_up(client, run_operation, capture) -> Ticket:  # type: ignore[no-untyped-def]
    """A request filed through the public page, then its directory lookup run on the tenant,
    then what the worker does with the mail owed (one attempt each)."""
    response = client.post(reverse("public_request_submit"), form("mario.rossi"))
    assert response.status_code == 200
    reference = re.search(r'id="reference">([^<]+)<', response.content.decode()).group(1)  # type: ignore[union-attr]
    ticket = Ticket.objects.get(reference=reference)
    lookup = GraphOperation.objects.get(kind=Kind.DIRECTORY_LOOKUP, correlation=reference)
    with capture(execute=True):
        run_operation(lookup)
    tasks.send_due_mail.apply()
    return ticket


def _not_me_token(message) -> str:  # type: ignore[no-untyped-def]
    url = re.search(r"https?://\S+/not-me/\?t=\S+", body_of(message)).group(0)  # type: ignore[union-attr]
    return parse_qs(urlsplit(url).query)["t"][0]


def _manager_token(message) -> str:  # type: ignore[no-untyped-def]
    url = re.search(r"https?://\S+/staff/manager/\?t=\S+", body_of(message)).group(0)  # type: ignore[union-attr]
    return parse_qs(urlsplit(url).query)["t"][0]


def _database_text() -> str:
    """Every text column of the tables a token could have been written to."""
    tables = [
        "tickets_outboundmail",
        "tickets_notmelink",
        "tickets_managerconfirmation",
        "audit_auditevent",
    ]
    with connection.cursor() as cursor:
        rows = []
        for table in tables:
            cursor.execute(f"SELECT row_to_json(t)::text FROM {table} t")  # noqa: S608 - fixed names
            rows.extend(r[0] for r in cursor.fetchall())
    return "\n".join(rows)


# --- The "a recovery was requested" notices ---------------------------------------------------


def test_send_due_mail_delivers_the_notices_a_mail_outage_held_back(
    client,
    simtenant,
    run_operation,
    mail_server_down,
    smtp_sink,
    django_capture_on_commit_callbacks,
) -> None:  # type: ignore[no-untyped-def]
    # given the mail server is down when a request is filed and looked up
    ticket = _file_and_look_up(client, run_operation, django_capture_on_commit_callbacks)
    # then the intake went through and both notices wait, their failed attempt on record
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW
    owed = {n.recipient: n for n in _notices(ticket)}
    assert set(owed) == {"account", "manager"}
    for notice in owed.values():
        assert notice.state == MailState.PENDING
        assert notice.attempts == 1 and notice.last_error == "ConnectionRefusedError"
        assert notice.next_attempt_at > timezone.now()
    assert not NotMeLink.objects.filter(ticket=ticket).exists()  # no link nobody holds
    failed = AuditEvent.objects.filter(ticket_ref=ticket.reference, action="notice.send_failed")
    assert [e.data["kind"] for e in failed] == ["recovery_requested"] * 2
    assert {e.outcome for e in failed} == {"failure"}
    # when the mail server is back and the back-off has passed, the beat task runs
    _mail_server_up(mail_server_down, smtp_sink)
    _make_due(ticket)
    tasks.send_due_mail.apply()
    # then both notices left, through the SMTP server, each with its own link
    assert set(_notices(ticket).values_list("state", flat=True)) == {MailState.SENT}
    mails = {m["To"]: m for m in smtp_sink.mails()}
    assert set(mails) == {f"mario.rossi@{DOMAIN}", MANAGER}
    assert all(ticket.reference in m["Subject"] for m in mails.values())
    sent = AuditEvent.objects.filter(ticket_ref=ticket.reference, action="notice.sent")
    assert sorted(e.data["recipient"] for e in sent) == ["account", "manager"]
    # and no token is anywhere in the database
    tokens = [_not_me_token(m) for m in mails.values()]
    stored = _database_text()
    assert all(token not in stored for token in tokens)
    # and the account holder's link works: the case is frozen
    token = _not_me_token(mails[f"mario.rossi@{DOMAIN}"])
    assert client.get(reverse("public_not_me"), {"t": token}).status_code == 200
    assert client.post(reverse("public_not_me_report"), {"t": token}).status_code == 200
    ticket.refresh_from_db()
    assert ticket.status == Status.FROZEN


def test_send_mail_backs_off_further_after_each_failure_and_gives_up(
    client, simtenant, run_operation, mail_server_down, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    # given a notice whose first attempt failed
    ticket = _file_and_look_up(client, run_operation, django_capture_on_commit_callbacks)
    notice = _notices(ticket).get(recipient="account")
    first_wait = notice.next_attempt_at - timezone.now()
    # when the next attempt fails too
    _make_due(ticket)
    assert notifications.send_mail(notice.pk) is False
    # then it waits about twice as long
    notice.refresh_from_db()
    assert notice.attempts == 2
    assert notice.next_attempt_at - timezone.now() > first_wait * 1.5
    # when every allowed attempt fails
    while notice.state == MailState.PENDING:
        _make_due(ticket)
        notifications.send_mail(notice.pk)
        notice.refresh_from_db()
    # then it is given up, on the record, and no longer due
    assert notice.state == MailState.ABANDONED and notice.attempts == notifications.MAX_ATTEMPTS
    abandoned = AuditEvent.objects.get(ticket_ref=ticket.reference, action="notice.abandoned")
    assert abandoned.data["kind"] == "recovery_requested"
    assert abandoned.data["recipient"] == "account"
    # and the agent sees a flagged case telling them to call on a trusted number
    ticket.refresh_from_db()
    assert ticket.flagged
    assert "account notice could not be e-mailed" in ticket.flag_reason
    assert "trusted number" in ticket.flag_reason
    # and security is owed an alert saying so
    alert = OutboundMail.objects.get(ticket=ticket, kind=MailKind.SECURITY_ALERT)
    assert "trusted number" in alert.context["detail"]
    _make_due(ticket)
    assert notifications.send_mail(notice.pk) is False
    notice.refresh_from_db()
    assert notice.attempts == notifications.MAX_ATTEMPTS


def test_send_mail_is_not_sent_before_due_nor_twice(
    client,
    simtenant,
    run_operation,
    mail_server_down,
    smtp_sink,
    django_capture_on_commit_callbacks,
) -> None:  # type: ignore[no-untyped-def]
    # given a notice held back by an outage, then the mail server back
    ticket = _file_and_look_up(client, run_operation, django_capture_on_commit_callbacks)
    notice = _notices(ticket).get(recipient="account")
    _mail_server_up(mail_server_down, smtp_sink)
    # when the beat runs before the back-off has passed, nothing is sent
    assert notifications.send_mail(notice.pk) is False
    assert smtp_sink.messages == []
    # when it is due and delivered twice (a duplicate message), one mail leaves
    _make_due(ticket)
    assert notifications.send_mail(notice.pk) is True
    assert notifications.send_mail(notice.pk) is False
    assert len(smtp_sink.messages) == 1
    # and the recipient holds exactly one link, the one mailed
    assert NotMeLink.objects.filter(ticket=ticket, recipient="account").count() == 1


def test_owe_recovery_requested_on_a_second_lookup_adds_no_second_notice(
    client, simtenant, run_operation, smtp_sink, settings, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    # given a request whose notices were mailed at once
    settings.EMAIL_BACKEND = SMTP_BACKEND
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_sink.port
    ticket = _file_and_look_up(client, run_operation, django_capture_on_commit_callbacks)
    assert len(smtp_sink.messages) == 2
    # when the notices are owed again (a repeated delivery)
    with django_capture_on_commit_callbacks(execute=True):
        again = intake.owe_recovery_requested(ticket)
    tasks.send_due_mail.apply()
    # then nobody is owed or mailed anything more
    assert again == []
    assert _notices(ticket).count() == 2
    assert len(smtp_sink.messages) == 2


def test_send_mail_cancels_a_notice_whose_recipient_already_used_a_link(
    client, simtenant, run_operation, mail_server_down, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    # given a notice held back, and the account holder's link used meanwhile (a link minted
    # before the outbox existed, say)
    ticket = _file_and_look_up(client, run_operation, django_capture_on_commit_callbacks)
    notice = _notices(ticket).get(recipient="account")
    intake.mint_not_me_token(ticket, recipient="account", sent_to=f"mario.rossi@{DOMAIN}")
    NotMeLink.objects.filter(ticket=ticket).update(used_at=timezone.now())
    # when it is due again
    _make_due(ticket)
    # then it is not sent but cancelled: they were told
    assert notifications.send_mail(notice.pk) is False
    notice.refresh_from_db()
    assert notice.state == MailState.CANCELLED


# --- The manager's confirmation link ----------------------------------------------------------


@pytest.fixture
def verified_while_mail_is_down(mail_server_down, agent):  # type: ignore[no-untyped-def]
    """A case the agent verified while the mail server was down: the link's first attempt
    failed."""
    ticket = make_ticket()
    casework.verify(ticket, agent)
    return ticket


def _link_mail(ticket: Ticket) -> OutboundMail:
    return OutboundMail.objects.get(ticket=ticket, kind=MailKind.MANAGER_LINK)


def test_manager_link_waits_for_the_mail_server_then_works(
    verified_while_mail_is_down, mail_server_down, smtp_sink, mfa_client, agent
) -> None:  # type: ignore[no-untyped-def]
    # given the link's first attempt failed
    ticket = verified_while_mail_is_down
    owed = _link_mail(ticket)
    assert owed.state == MailState.PENDING and owed.last_error == "ConnectionRefusedError"
    assert ManagerConfirmation.objects.get(ticket=ticket).token_hash == ""  # no live link
    # then the agent sees the case waiting on mail, on the case page and in the queue
    client = mfa_client(agent)
    page = client.get(reverse("staff_ticket", args=[ticket.pk])).content.decode()
    assert "Waiting on mail" in page and "Confirmation link to the manager" in page
    assert "ConnectionRefusedError" in page
    assert "waiting on mail" in client.get(reverse("staff_queue")).content.decode()
    # when the mail server is back and the beat sends what is due
    _mail_server_up(mail_server_down, smtp_sink)
    _make_due(ticket)
    tasks.send_due_mail.apply()
    # then the manager got their link, and it works
    [message] = [m for m in smtp_sink.mails() if m["To"] == MANAGER]
    token = _manager_token(message)
    assert token not in _database_text()
    workflow.decide_as_manager(
        token, by=make_manager(), confirm=True, reason="He told me this morning."
    )
    assert workflow.active_verification(ticket).manager_confirmation.decision == "confirmed"  # type: ignore[union-attr]
    # and the case no longer waits on mail
    page = client.get(reverse("staff_ticket", args=[ticket.pk])).content.decode()
    assert "Waiting on mail" not in page
    assert "waiting on mail" not in client.get(reverse("staff_queue")).content.decode()
    sent = AuditEvent.objects.get(ticket_ref=ticket.reference, action="ticket.manager_link_sent")
    assert sent.data["kind"] == "manager_link" and sent.data["attempt"] == 2
    assert sent.data["routed_to_security"] is False


def test_manager_link_given_up_flags_the_case_and_alerts_security(
    verified_while_mail_is_down, mail_server_down, smtp_sink, security
) -> None:  # type: ignore[no-untyped-def]
    # given the link's first attempt failed
    ticket = verified_while_mail_is_down
    owed = _link_mail(ticket)
    # when every allowed attempt fails
    while owed.state == MailState.PENDING:
        _make_due(ticket)
        notifications.send_mail(owed.pk)
        owed.refresh_from_db()
    # then it is given up and the agent sees the case flagged, saying why
    assert owed.state == MailState.ABANDONED
    ticket.refresh_from_db()
    assert ticket.flagged and "confirmation link could not be e-mailed" in ticket.flag_reason
    # and, mail back, security gets the alert
    _mail_server_up(mail_server_down, smtp_sink)
    tasks.send_due_mail.apply()
    [alert] = [m for m in smtp_sink.mails() if m["To"] == security.email]
    assert "Mail not delivered" in alert["Subject"] and ticket.reference in alert["Subject"]
    assert "confirmation link could not be e-mailed" in body_of(alert)


def test_manager_link_of_a_case_closed_meanwhile_is_cancelled(
    verified_while_mail_is_down, mail_server_down, smtp_sink, agent
) -> None:  # type: ignore[no-untyped-def]
    # given the link waits for the mail server, and the agent closes the case meanwhile
    ticket = verified_while_mail_is_down
    workflow.close(ticket, by=agent, reason="Requester withdrew.")
    # when the mail server is back
    _mail_server_up(mail_server_down, smtp_sink)
    _make_due(ticket)
    tasks.send_due_mail.apply()
    # then no link is sent for a case nobody may confirm any more
    assert _link_mail(ticket).state == MailState.CANCELLED
    assert smtp_sink.messages == []
    assert ManagerConfirmation.objects.get(ticket=ticket).token_hash == ""


def test_void_manager_link_makes_the_last_minted_link_open_nothing(agent) -> None:  # type: ignore[no-untyped-def]
    # given a link minted for an attempt (as the sender does), then the attempt failed
    ticket = make_ticket()
    verification = casework.verify(ticket, agent)
    confirmation = verification.manager_confirmation
    link = workflow.mint_manager_link(confirmation)
    token = parse_qs(urlsplit(link).query)["t"][0]
    assert workflow.open_manager_link(token) == confirmation
    # when the sender voids it
    workflow.void_manager_link(confirmation)
    # then that token opens nothing
    with pytest.raises(workflow.LinkInvalid):
        workflow.open_manager_link(token)


# --- Security alerts and the other mails ------------------------------------------------------


def test_security_alert_keeps_what_it_says_and_is_sent_to_the_officers(
    agent, security, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    # given a case flagged as fraud (which freezes it and alerts security)
    ticket = make_ticket()
    with casework.committed():
        workflow.flag_fraud(ticket, by=agent, reason="Caller could not name their manager.")
    # then the alert was owed with what it says, and sent to the officers
    alert = OutboundMail.objects.get(ticket=ticket, kind=MailKind.SECURITY_ALERT)
    assert alert.state == MailState.SENT
    assert alert.context["headline"] == "Ticket frozen"
    assert "Caller could not name their manager." in alert.context["detail"]
    [message] = [m for m in mail.outbox if security.email in m.to]
    assert message.subject == f"[Recovery Portal] [normal] Ticket frozen: {ticket.reference}"
    assert "Caller could not name their manager." in message.body


def test_alert_without_any_security_officer_waits_for_one() -> None:
    # given no security officer with an address
    ticket = make_ticket()
    with casework.committed():
        workflow.alert_security(ticket, headline="Test", detail="Something happened.")
    # then the alert is not lost: it waits, a failed attempt on record
    alert = OutboundMail.objects.get(ticket=ticket, kind=MailKind.SECURITY_ALERT)
    assert alert.state == MailState.PENDING and alert.last_error == "NobodyToTell"

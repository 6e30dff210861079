"""The outbox of "a recovery was requested" notices (tickets.intake.notices) over a real mail
path: Django's SMTP backend pointed first at a closed loopback port, then at a small SMTP sink
listening on loopback. The intake survives the outage; the beat task sends the notice later,
with a working "this wasn't me" link whose token is never stored."""

from __future__ import annotations

import email
import email.policy
import os
import re
import socketserver
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from graphops.models import GraphOperation, Kind
from tests.fixtures_graph import Worker, _test_database_url, free_port
from tests.tickets.test_intake_graph import form
from tickets import tasks
from tickets.intake import notices
from tickets.models import NoticeState, NotMeLink, RecoveryNotice, Status, Ticket

pytestmark = pytest.mark.django_db

DOMAIN = "contoso.example"
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


# --- A real SMTP endpoint on loopback ---------------------------------------------------------


class _SmtpSession(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: greet, accept one envelope at a time, keep the message."""

    def handle(self) -> None:
        self.wfile.write(b"220 sink ready\r\n")
        while line := self.rfile.readline():
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb == b"DATA":
                self.wfile.write(b"354 go ahead\r\n")
                self.server.messages.append(self._read_data())  # type: ignore[attr-defined]
                self.wfile.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:  # EHLO, HELO, MAIL, RCPT, RSET, NOOP
                self.wfile.write(b"250 ok\r\n")

    def _read_data(self) -> bytes:
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)
        return b"".join(lines)


class SmtpSink(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpSession)
        self.messages: list[bytes] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def mails(self) -> list[email.message.EmailMessage]:
        return [
            email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[misc]
            for raw in self.messages
        ]


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    thread = threading.Thread(target=sink.serve_forever, daemon=True)
    thread.start()
    yield sink
    sink.shutdown()
    sink.server_close()


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


# --- The case ---------------------------------------------------------------------------------


def _file_and_look_up(client, run_operation, capture) -> Ticket:  # type: ignore[no-untyped-def]
    """A request filed through the public page, then its directory lookup run on the tenant."""
    response = client.post(reverse("public_request_submit"), form("mario.rossi"))
    assert response.status_code == 200
    reference = re.search(r'id="reference">([^<]+)<', response.content.decode()).group(1)  # type: ignore[union-attr]
    ticket = Ticket.objects.get(reference=reference)
    lookup = GraphOperation.objects.get(kind=Kind.DIRECTORY_LOOKUP, correlation=reference)
    with capture(execute=True):
        run_operation(lookup)
    return ticket


def _make_due(ticket: Ticket) -> None:
    """The back-off has passed (rather than waiting minutes in a test)."""
    RecoveryNotice.objects.filter(ticket=ticket, state=NoticeState.PENDING).update(
        next_attempt_at=timezone.now()
    )


def _not_me_token(message: email.message.EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    url = re.search(r"https?://\S+/not-me/\?t=\S+", body).group(0)  # type: ignore[union-attr]
    return parse_qs(urlsplit(url).query)["t"][0]


def _database_text() -> str:
    """Every text column of the tables a token could have been written to."""
    tables = ["tickets_recoverynotice", "tickets_notmelink", "audit_auditevent"]
    with connection.cursor() as cursor:
        rows = []
        for table in tables:
            cursor.execute(f"SELECT row_to_json(t)::text FROM {table} t")  # noqa: S608 - fixed names
            rows.extend(r[0] for r in cursor.fetchall())
    return "\n".join(rows)


# --- Tests ------------------------------------------------------------------------------------


def test_send_due_notices_delivers_what_a_mail_outage_held_back(
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
    owed = {n.recipient: n for n in RecoveryNotice.objects.filter(ticket=ticket)}
    assert set(owed) == {"account", "manager"}
    for notice in owed.values():
        assert notice.state == NoticeState.PENDING
        assert notice.attempts == 1 and notice.last_error == "ConnectionRefusedError"
        assert notice.next_attempt_at > timezone.now()
    assert not NotMeLink.objects.filter(ticket=ticket).exists()  # no link nobody holds
    failed = AuditEvent.objects.filter(ticket_ref=ticket.reference, action="notice.send_failed")
    assert failed.count() == 2 and {e.outcome for e in failed} == {"failure"}
    # when the mail server is back and the back-off has passed, the beat task runs
    _mail_server_up(mail_server_down, smtp_sink)
    _make_due(ticket)
    tasks.send_due_notices.apply()
    # then both notices left, through the SMTP server, each with its own link
    assert set(RecoveryNotice.objects.filter(ticket=ticket).values_list("state", flat=True)) == {
        NoticeState.SENT
    }
    mails = {m["To"]: m for m in smtp_sink.mails()}
    assert set(mails) == {f"mario.rossi@{DOMAIN}", f"giulia.bianchi@{DOMAIN}"}
    assert all(ticket.reference in m["Subject"] for m in mails.values())
    assert AuditEvent.objects.filter(ticket_ref=ticket.reference, action="notice.sent").count() == 2
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


def test_send_notice_backs_off_further_after_each_failure_and_gives_up(
    client, simtenant, run_operation, mail_server_down, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    # given a notice whose first attempt failed
    ticket = _file_and_look_up(client, run_operation, django_capture_on_commit_callbacks)
    notice = RecoveryNotice.objects.get(ticket=ticket, recipient="account")
    first_wait = notice.next_attempt_at - timezone.now()
    # when the next attempt fails too
    _make_due(ticket)
    assert notices.send_notice(notice.pk) is False
    # then it waits about twice as long
    notice.refresh_from_db()
    assert notice.attempts == 2
    assert notice.next_attempt_at - timezone.now() > first_wait * 1.5
    # when every allowed attempt fails
    while notice.state == NoticeState.PENDING:
        _make_due(ticket)
        notices.send_notice(notice.pk)
        notice.refresh_from_db()
    # then it is given up, on the record, and no longer due
    assert notice.state == NoticeState.ABANDONED and notice.attempts == notices.MAX_ATTEMPTS
    assert AuditEvent.objects.filter(
        ticket_ref=ticket.reference, action="notice.abandoned"
    ).exists()
    # and the agent sees a flagged case telling them to call on a trusted number
    ticket.refresh_from_db()
    assert ticket.flagged
    assert "account notice could not be e-mailed" in ticket.flag_reason
    assert "trusted number" in ticket.flag_reason
    _make_due(ticket)
    assert notices.send_notice(notice.pk) is False
    notice.refresh_from_db()
    assert notice.attempts == notices.MAX_ATTEMPTS


def test_send_notice_is_not_sent_before_due_nor_twice(
    client,
    simtenant,
    run_operation,
    mail_server_down,
    smtp_sink,
    django_capture_on_commit_callbacks,
) -> None:  # type: ignore[no-untyped-def]
    # given a notice held back by an outage, then the mail server back
    ticket = _file_and_look_up(client, run_operation, django_capture_on_commit_callbacks)
    notice = RecoveryNotice.objects.get(ticket=ticket, recipient="account")
    _mail_server_up(mail_server_down, smtp_sink)
    # when the beat runs before the back-off has passed, nothing is sent
    assert notices.send_notice(notice.pk) is False
    assert smtp_sink.messages == []
    # when it is due and delivered twice (a duplicate beat), one mail leaves
    _make_due(ticket)
    assert notices.send_notice(notice.pk) is True
    assert notices.send_notice(notice.pk) is False
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
        again = notices.owe_recovery_requested(ticket)
    # then nobody is owed or mailed anything more
    assert again == []
    assert RecoveryNotice.objects.filter(ticket=ticket).count() == 2
    assert len(smtp_sink.messages) == 2


# --- Across the queue: real worker processes, the beat task sent through the broker -----------


@pytest.fixture
def fresh_broker_pools():  # type: ignore[no-untyped-def]
    """Fresh kombu pools in this process (see test_workflow_worker.fresh_broker_pools)."""
    from recovery_portal.celery import app

    app._pool = None
    app.amqp._producer_pool = None


def _worker_with_mail_port(simtenant, settings, tmp_path, port: int):  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        **simtenant.env,
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DB_CONN_MAX_AGE": "0",
        "EMAIL_BACKEND": SMTP_BACKEND,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "EMAIL_TIMEOUT": "2",
    }
    return Worker(env=env, log_dir=tmp_path / str(port)).start()


def _wait_until(check, *, timeout: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise TimeoutError("condition not met in time")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_send_due_notices_in_a_worker_delivers_after_an_outage(
    client, simtenant, smtp_sink, settings, tmp_path, fresh_broker_pools
) -> None:  # type: ignore[no-untyped-def]
    # given a worker whose mail server is down while it looks up a new request
    (tmp_path / str(smtp_sink.port)).mkdir()
    closed = free_port()
    (tmp_path / str(closed)).mkdir()
    worker = _worker_with_mail_port(simtenant, settings, tmp_path, closed)
    try:
        response = client.post(reverse("public_request_submit"), form("mario.rossi"))
        reference = re.search(r'id="reference">([^<]+)<', response.content.decode()).group(1)  # type: ignore[union-attr]
        ticket = Ticket.objects.get(reference=reference)
        owed = RecoveryNotice.objects.filter(ticket=ticket, attempts__gte=1)
        _wait_until(lambda: owed.count() == 2)
    finally:
        worker.stop()
    assert set(owed.values_list("state", flat=True)) == {NoticeState.PENDING}, worker.log()[-2000:]
    # when a worker with the mail server back runs the beat task once the notices are due
    worker = _worker_with_mail_port(simtenant, settings, tmp_path, smtp_sink.port)
    try:
        _make_due(ticket)
        tasks.send_due_notices.delay()
        sent = RecoveryNotice.objects.filter(ticket=ticket, state=NoticeState.SENT)
        _wait_until(lambda: sent.count() == 2)
    finally:
        worker.stop()
    # then the two mails went through SMTP, and the account holder's link works
    mails = {m["To"]: m for m in smtp_sink.mails()}
    assert set(mails) == {f"mario.rossi@{DOMAIN}", f"giulia.bianchi@{DOMAIN}"}
    token = _not_me_token(mails[f"mario.rossi@{DOMAIN}"])
    assert token not in _database_text()
    assert client.get(reverse("public_not_me"), {"t": token}).status_code == 200

"""The reference-only mail to the alternate contact leaves the intake request: a real worker
sends it. With Redis down, the request still files the ticket and the mail stays owed; once the
broker is back, the beat's sweep has a worker send it."""

from __future__ import annotations

import time
from email import message_from_string
from pathlib import Path

import pytest
from django.core import mail
from django.urls import reverse

from tests.faults.conftest import wait_until
from tests.tickets.test_public_views import shown_secrets, valid_post
from tickets import tasks
from tickets.models import MailKind, MailState, OutboundMail, Ticket

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ALTERNATE = "mario.personal@example.org"


def worker_mails(directory: Path) -> list[str]:
    return [path.read_text() for path in sorted(directory.glob("*.log"))]


def test_alternate_contact_mail_is_sent_by_the_worker_not_the_request(
    start_worker, client, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    # given a real worker whose mails go to files
    outbox = tmp_path / "worker-mail"
    outbox.mkdir()
    start_worker(
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(outbox),
    )
    # when a request is filed
    response = client.post(reverse("public_request_submit"), valid_post())
    assert response.status_code == 200
    reference, code = shown_secrets(response)
    # then the web process sent nothing itself, and the worker mails the reference only
    assert [m for m in mail.outbox if ALTERNATE in m.to] == []
    [sent] = wait_until(
        lambda: [m for m in worker_mails(outbox) if f"To: {ALTERNATE}" in m],
        what="the worker's mail to the alternate contact",
    )
    body = message_from_string(sent).get_payload(decode=True).decode()
    assert reference in body
    assert code.replace("-", "") not in body.replace("-", "")
    assert "not-me" not in body


def test_alternate_contact_mail_owed_while_redis_is_down_is_sent_once_it_is_back(
    client, services, start_worker, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    # given the broker is down
    services.stop_redis()
    # when a request is filed (the per-IP and per-account limits fail open for the intake)
    began = time.monotonic()
    response = client.post(reverse("public_request_submit"), valid_post())
    took = time.monotonic() - began
    # then the ticket is filed and the mail owed, not lost, and nothing was sent from the request
    assert response.status_code == 200, response.content[:500]
    reference, _code = shown_secrets(response)
    ticket = Ticket.objects.get(reference=reference)
    owed = OutboundMail.objects.get(ticket=ticket, kind=MailKind.REFERENCE)
    assert owed.state == MailState.PENDING and owed.attempts == 0
    assert [m for m in mail.outbox if ALTERNATE in m.to] == []
    assert took < 30
    # when the broker is back, a worker runs, and the beat's sweep is delivered
    services.start_redis()
    outbox = tmp_path / "worker-mail"
    outbox.mkdir()
    start_worker(
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(outbox),
    )
    tasks.send_due_mail.delay()
    # then the alternate contact is told, once
    [sent] = wait_until(
        lambda: [m for m in worker_mails(outbox) if f"To: {ALTERNATE}" in m],
        what="the worker's mail to the alternate contact",
    )
    assert reference in message_from_string(sent).get_payload(decode=True).decode()
    owed.refresh_from_db()
    assert owed.state == MailState.SENT and owed.attempts == 1

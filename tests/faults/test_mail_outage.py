"""The manager's confirmation link — the mail every case waits on — through a real worker and a
real SMTP server on loopback (tests/smtp.py): the server refusing connections while the link is
due, then back; and a worker killed in the middle of the SMTP exchange."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.faults.conftest import Relay, wait_until
from tests.smtp import SMTP_BACKEND, SmtpSink, body_of
from tests.tickets import casework
from tests.tickets.casework import MANAGER_UPN, make_manager, make_ticket
from tickets import tasks, workflow
from tickets.models import MailKind, MailState, ManagerDecision, OutboundMail, Ticket

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _mail_env(port: int, *, timeout: int = 2) -> dict[str, str]:
    return {
        "EMAIL_BACKEND": SMTP_BACKEND,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "EMAIL_TIMEOUT": str(timeout),
    }


def _verified(agent: Any) -> Ticket:
    """The agent verifies a case (committed, as in a request): the link is owed to the worker."""
    ticket = make_ticket()
    workflow.claim(ticket, by=agent)
    workflow.verify_identity(ticket, by=agent, evidence=casework.evidence(), plan=casework.plan())
    return ticket


def _link_mail(ticket: Ticket) -> OutboundMail:
    return OutboundMail.objects.get(ticket=ticket, kind=MailKind.MANAGER_LINK)


def _manager_links(sink: SmtpSink) -> list[str]:
    found = []
    for message in sink.mails():
        body = body_of(message)
        if message["To"] == MANAGER_UPN and "/staff/manager/" in body:
            url = re.search(r"https?://\S+/staff/manager/\?t=\S+", body).group(0)  # type: ignore[union-attr]
            found.append(parse_qs(urlsplit(url).query)["t"][0])
    return found


def _lease_over(ticket: Ticket) -> None:
    """The claim's lease (minutes) has run out, rather than waiting for it in a test."""
    OutboundMail.objects.filter(ticket=ticket, state=MailState.PENDING).update(
        next_attempt_at=timezone.now()
    )


def _handled(worker: Any, task: str, count: int) -> bool:
    """The worker has run ``task`` to its end at least ``count`` times (its log says so)."""
    return len(re.findall(rf"Task {re.escape(task)}\[[^\]]+\] succeeded", worker.log())) >= count


def _confirm(token: str) -> None:
    workflow.decide_as_manager(
        token, by=make_manager(), confirm=True, reason="He told me this morning."
    )


def test_manager_link_due_while_smtp_refuses_is_sent_when_mail_returns(
    start_worker, smtp_sink, mfa_client, agent
) -> None:  # type: ignore[no-untyped-def]
    # given a worker whose SMTP server refuses connections (a relay in front of it, switched off)
    relay = Relay(smtp_sink.port)
    relay.down()
    start_worker(**_mail_env(relay.port))
    # when the agent verifies a case: the manager's link is due
    ticket = _verified(agent)
    owed = wait_until(
        lambda: OutboundMail.objects.filter(pk=_link_mail(ticket).pk, last_error__gt="").first(),
        what="the worker's failed attempt at the manager link",
    )
    # then the attempt failed and is on the case, waiting: the agent sees why the case waits
    assert owed.state == MailState.PENDING and owed.last_error == "ConnectionRefusedError"
    client = mfa_client(agent)
    page = client.get(reverse("staff_ticket", args=[ticket.pk])).content.decode()
    assert "Waiting on mail" in page and "ConnectionRefusedError" in page
    queue = client.get(reverse("staff_queue")).content.decode()
    assert "waiting on mail" in queue
    assert smtp_sink.messages == []
    # when mail returns and, the back-off over, the beat's sweep is delivered
    relay.up()
    OutboundMail.objects.filter(pk=owed.pk).update(next_attempt_at=timezone.now())
    tasks.send_due_mail.delay()
    # then the manager gets their link, and it works
    [token] = wait_until(lambda: _manager_links(smtp_sink), what="the manager's mail")
    wait_until(lambda: _link_mail(ticket).state == MailState.SENT, what="the mail recorded as sent")
    page = client.get(reverse("staff_ticket", args=[ticket.pk])).content.decode()
    assert "Waiting on mail" not in page
    _confirm(token)
    confirmation = workflow.active_verification(ticket).manager_confirmation  # type: ignore[union-attr]
    assert confirmation.decision == ManagerDecision.CONFIRMED


def test_worker_killed_mid_send_does_not_send_the_link_twice(
    start_worker, smtp_sink, agent
) -> None:  # type: ignore[no-untyped-def]
    # given a worker in the middle of the SMTP exchange of a manager link: the server took the
    # envelope and has not answered the message yet
    smtp_sink.stall()
    first = start_worker(**_mail_env(smtp_sink.port, timeout=60))
    ticket = _verified(agent)
    assert smtp_sink.stalled.wait(timeout=60), first.log()[-2000:]
    # when the worker is killed there, and the server lets go of the half-sent message
    first.kill()
    smtp_sink.release()
    owed = _link_mail(ticket)
    assert owed.state == MailState.PENDING and owed.attempts == 1
    # then a new worker given the same message again (a redelivery, a beat) sends nothing
    # while the dead worker's claim holds
    second = start_worker(**_mail_env(smtp_sink.port))
    tasks.send_mail.delay(owed.pk)
    tasks.send_due_mail.delay()
    wait_until(lambda: _handled(second, "tickets.send_due_mail", 1), what="the beat task")
    wait_until(lambda: _handled(second, "tickets.send_mail", 1), what="the duplicate")
    assert smtp_sink.messages == []
    # when the claim's lease has run out, the beat sends it: once
    _lease_over(ticket)
    tasks.send_due_mail.delay()
    [token] = wait_until(lambda: _manager_links(smtp_sink), what="the manager's mail")
    wait_until(lambda: _link_mail(ticket).state == MailState.SENT, what="the mail sent")
    tasks.send_mail.delay(owed.pk)
    tasks.send_due_mail.delay()
    wait_until(lambda: _handled(second, "tickets.send_due_mail", 3), what="later beats")
    wait_until(lambda: _handled(second, "tickets.send_mail", 2), what="a later duplicate")
    assert len(smtp_sink.messages) == 1
    assert _link_mail(ticket).attempts == 2
    # and the one link sent works (the link minted for the killed attempt opens nothing)
    _confirm(token)

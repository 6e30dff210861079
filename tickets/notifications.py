"""Sending the mail the outbox holds (tickets.outbox): the worker's side. Plain text, in the
language the mail was owed in.

Rules: a claim code or a TAP is never in any mail; a "this wasn't me" link goes only to the
account's own mailbox and to its manager of record, the confirmation link only to the manager
of record (or, with none, the security officers); the alternate contact (an address the
requester typed, so possibly an attacker's) gets the reference and nothing else.

One attempt at an owed mail: claim its row (a conditional update that counts the attempt and
moves the next one a lease away, so a duplicate delivery or a second beat sends nothing), compose
it — minting a fresh link where it carries one and voiding the link of the failed attempt
before it, whose token went nowhere — send it, and record the outcome, each attempt on the audit
trail. Failures back off (1 minute doubling to an hour) and are given up after MAX_ATTEMPTS
(about seven hours, inside both links' validity); an essential mail given up flags the case for
the agent and alerts security. No token is stored: a server that accepted a mail yet reported an
error leaves a link that the next attempt voids; the next mail carries the working one.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from audit import log
from audit.actions import Action
from audit.models import Outcome
from tickets import intake, roles, workflow
from tickets.models import MailKind, MailState, NotMeLink, OutboundMail, Ticket

logger = logging.getLogger(__name__)

# A sender holds a claimed mail this long: far above one SMTP exchange (EMAIL_TIMEOUT), so a
# slow send is never doubled, and short enough that a crashed sender's mail is soon due again.
SEND_LEASE = dt.timedelta(minutes=5)
FIRST_RETRY_SECONDS = 60
MAX_RETRY_SECONDS = 3600
MAX_ATTEMPTS = 12


@dataclass(frozen=True)
class Letter:
    """One composed mail. ``to`` empty: nobody to send it to right now (a failed attempt)."""

    to: list[str]
    subject: str
    body: str


def retry_delay(attempts: int) -> dt.timedelta:
    """How long to wait after the ``attempts``-th failed attempt."""
    seconds = FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0)
    return dt.timedelta(seconds=min(seconds, MAX_RETRY_SECONDS))


def send_due_mail(*, limit: int = 100) -> int:
    """Send the owed mail whose next attempt is due, oldest first (the beat). Returns how many
    left. Safe to run in several processes at once: each mail is claimed before it is sent."""
    due = (
        OutboundMail.objects.filter(state=MailState.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(send_mail(mail_id) for mail_id in list(due))


def send_mail(mail_id: int) -> bool:
    """Make one attempt at an owed mail; True if it left.

    A mail not due, already sent or being sent elsewhere is left alone (the claim). Never
    raises for a mail failure: it is recorded, and tried again once its back-off has passed.
    """
    claimed = _claim(mail_id)
    if claimed is None:
        return False
    mail, letter = claimed
    try:
        if not letter.to:
            raise NobodyToTell(mail.kind)
        EmailMessage(subject=letter.subject, body=letter.body, to=letter.to).send()
    except Exception as exc:  # SMTP and backends raise many kinds; each is one failed attempt
        _record_failure(mail, error=type(exc).__name__)
        return False
    _record_sent(mail, letter)
    return True


class NobodyToTell(Exception):
    """The mail has no recipient at the moment (no security officer with an address)."""


@transaction.atomic
def _claim(mail_id: int) -> tuple[OutboundMail, Letter] | None:
    now = timezone.now()
    claimed = OutboundMail.objects.filter(
        pk=mail_id, state=MailState.PENDING, next_attempt_at__lte=now
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + SEND_LEASE)
    if not claimed:
        return None
    mail = OutboundMail.objects.select_related("ticket", "confirmation").get(pk=mail_id)
    with translation.override(mail.language):
        letter = compose(mail)
    if letter is None:  # no longer needed: the case moved on, or the recipient was told
        OutboundMail.objects.filter(pk=mail.pk).update(state=MailState.CANCELLED)
        logger.info("mail %s (%s) cancelled: no longer needed", mail.pk, mail.kind)
        return None
    return mail, letter


def compose(mail: OutboundMail) -> Letter | None:
    """The mail as it goes out now, links freshly minted; None when it is no longer needed.
    Run inside the claim's transaction (a minted link exists only if the claim commits)."""
    composer = {
        MailKind.MANAGER_LINK: _manager_link,
        MailKind.RECOVERY_REQUESTED: _recovery_requested,
        MailKind.SECURITY_ALERT: _security_alert,
        MailKind.EXECUTED: _executed,
        MailKind.REFERENCE: _reference,
    }[MailKind(mail.kind)]
    return composer(mail)


def _rendered(template: str, context: dict[str, object], to: list[str]) -> Letter:
    context = {**context, "site_url": settings.SITE_URL}
    subject = render_to_string(f"{template}_subject.txt", context).strip()
    return Letter(to=to, subject=subject, body=render_to_string(f"{template}.txt", context))


def _manager_link(mail: OutboundMail) -> Letter | None:
    confirmation = mail.confirmation
    if confirmation is None or not workflow.manager_link_owed(confirmation):
        return None
    if confirmation.routed_to_security:
        to = roles.security_officer_emails()
    else:
        to = [confirmation.manager_upn]
    context = {
        "ticket": mail.ticket,
        "link": workflow.mint_manager_link(confirmation) if to else "",
        "expires_at": confirmation.expires_at,
        "routed_to_security": confirmation.routed_to_security,
    }
    return _rendered("tickets/manager/link_mail", context, to)


def _recovery_requested(mail: OutboundMail) -> Letter | None:
    ticket, recipient = mail.ticket, mail.recipient
    address = intake.notice_recipients(ticket).get(recipient, "")
    link = NotMeLink.objects.filter(ticket=ticket, recipient=recipient).first()
    if not address or (link is not None and link.used_at is not None):
        return None  # nobody to tell any more, or they used a link (so they were told)
    if link is not None:
        link.delete()  # minted for an attempt whose mail did not leave: its token is void
    token = intake.mint_not_me_token(ticket, recipient=recipient, sent_to=address)
    if token is None:  # a concurrent sender minted one meanwhile: the lease says it cannot be
        raise RuntimeError(f"mail {mail.pk}: link minted concurrently")
    manager = recipient == NotMeLink.Recipient.MANAGER
    subject = (
        _("A recovery was requested for the account %(upn)s")
        if manager
        else _("A recovery was requested for your account")
    ) % {"upn": ticket.upn}
    context = {
        "reference": ticket.reference,
        "upn": ticket.upn,
        "full_name": ticket.full_name,
        "created_at": ticket.created_at,
        "not_me_url": intake.not_me_url(token),
        "link_days": intake.NOT_ME_LINK_DAYS,
        "site_url": settings.SITE_URL,
    }
    template = "emails/intake_manager_notice.txt" if manager else "emails/intake_account_notice.txt"
    body = render_to_string(template, context)
    return Letter(to=[address], subject=f"{subject} ({ticket.reference})", body=body)


def _security_alert(mail: OutboundMail) -> Letter | None:
    reference = mail.ticket.reference
    severity = "HIGH" if mail.context.get("urgent") else "normal"
    headline, detail = mail.context.get("headline", ""), mail.context.get("detail", "")
    return Letter(
        to=roles.security_officer_emails(),
        subject=f"[Recovery Portal] [{severity}] {headline}: {reference}",
        body=f"{detail}\n\nTicket {reference}: {settings.SITE_URL}/staff/\n",
    )


def _executed(mail: OutboundMail) -> Letter | None:
    ticket = mail.ticket
    to = [r for r in (ticket.upn, ticket.manager_upn) if r]
    return _rendered("tickets/staff/executed_mail", {"ticket": ticket}, to)


def _reference(mail: OutboundMail) -> Letter | None:
    ticket = mail.ticket
    if not ticket.alternate_email:
        return None
    subject = _("Recovery request %(reference)s received") % {"reference": ticket.reference}
    context = {"reference": ticket.reference, "site_url": settings.SITE_URL}
    body = render_to_string("emails/intake_alternate_contact.txt", context)
    return Letter(to=[ticket.alternate_email], subject=subject, body=body)


def _void_links(mail: OutboundMail) -> None:
    """The link minted for a failed attempt reached nobody: it goes, the next attempt mints
    another."""
    if mail.kind == MailKind.RECOVERY_REQUESTED:
        NotMeLink.objects.filter(
            ticket=mail.ticket, recipient=mail.recipient, used_at__isnull=True
        ).delete()
    elif mail.kind == MailKind.MANAGER_LINK and mail.confirmation is not None:
        workflow.void_manager_link(mail.confirmation)


def _audit_data(mail: OutboundMail) -> dict[str, object]:
    data: dict[str, object] = {"mail_id": mail.pk, "kind": mail.kind, "attempt": mail.attempts}
    if mail.recipient:
        data["recipient"] = mail.recipient
    return data


@transaction.atomic
def _record_sent(mail: OutboundMail, letter: Letter) -> None:
    OutboundMail.objects.filter(pk=mail.pk, state=MailState.PENDING).update(
        state=MailState.SENT, sent_at=timezone.now(), last_error=""
    )
    data = _audit_data(mail)
    link = mail.confirmation if mail.kind == MailKind.MANAGER_LINK else None
    if link is not None:
        data["routed_to_security"] = link.routed_to_security
    log.record(
        Action.MANAGER_LINK_SENT if link is not None else Action.MAIL_SENT,
        actor=log.SYSTEM,
        on_behalf_of=link.verification.verified_by if link is not None else None,
        ticket_ref=mail.ticket.reference,
        subject=mail.ticket.upn,
        data=data,
        personal={"to": letter.to},
    )


@transaction.atomic
def _record_failure(mail: OutboundMail, *, error: str) -> None:
    _void_links(mail)
    give_up = mail.attempts >= MAX_ATTEMPTS
    changes: dict[str, object] = {"last_error": error[:64]}
    if give_up:
        changes["state"] = MailState.ABANDONED
    else:
        changes["next_attempt_at"] = timezone.now() + retry_delay(mail.attempts)
    OutboundMail.objects.filter(pk=mail.pk, state=MailState.PENDING).update(**changes)
    logger.warning(
        "mail %s (%s, %s) not sent, attempt %s: %s%s",
        mail.pk,
        mail.ticket.reference,
        mail.kind,
        mail.attempts,
        error,
        "; given up" if give_up else "",
    )
    log.record(
        Action.MAIL_ABANDONED if give_up else Action.MAIL_FAILED,
        ticket_ref=mail.ticket.reference,
        subject=mail.ticket.upn,
        outcome=Outcome.FAILURE,
        data={**_audit_data(mail), "error": error[:64]},
    )
    if give_up and mail.essential:
        _flag_untold(mail)


def _flag_untold(mail: OutboundMail) -> None:
    """An essential mail could not be sent: the real account holder may not know a recovery is
    under way, or the case waits on a link nobody received. The case is flagged for the agent
    and security alerted (an alert is itself owed mail)."""
    if mail.kind == MailKind.MANAGER_LINK:
        reason = (
            f"The manager's confirmation link could not be e-mailed after {mail.attempts} "
            "attempts: the case cannot be approved without it; check the mail server."
        )
    else:
        reason = (
            f"The {mail.recipient} notice could not be e-mailed after {mail.attempts} "
            "attempts: call them on a trusted number before going on."
        )
    ticket = Ticket.objects.get(pk=mail.ticket_id)
    combined = f"{ticket.flag_reason} {reason}" if ticket.flag_reason else reason
    Ticket.objects.filter(pk=ticket.pk).update(flagged=True, flag_reason=combined[:300])
    workflow.alert_security(ticket, headline="Mail not delivered", detail=reason)

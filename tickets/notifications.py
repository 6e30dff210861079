"""Mails the portal sends about a case. Plain text, in the language the request was made in.

Rules: a claim code or a TAP is never in any mail; a "this wasn't me" link goes only to the
account's own mailbox and to its manager of record; the alternate contact (an address the
requester typed, so possibly an attacker's) gets the reference and nothing else.
Callers run these after commit. The reference mail to the alternate contact is best effort: a
failure is logged (without the message) and reported as False. The "recovery requested" notice
raises instead: its caller, the outbox (tickets.intake.notices), records the failure and sends
it again later.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from tickets.models import NotMeLink, Ticket

logger = logging.getLogger(__name__)

# How long a "this wasn't me" link works (days).
NOT_ME_LINK_DAYS = 7


def _deliver(*, subject: str, template: str, context: dict[str, object], to: str) -> None:
    body = render_to_string(template, {**context, "site_url": settings.SITE_URL})
    EmailMessage(subject=subject, body=body, to=[to]).send(fail_silently=False)


def _send(*, subject: str, template: str, context: dict[str, object], to: str, ref: str) -> bool:
    try:
        _deliver(subject=subject, template=template, context=context, to=to)
    except Exception as exc:  # SMTP and backends raise many kinds; none may stop the caller
        logger.warning("mail %s for %s not sent (%s)", template, ref, type(exc).__name__)
        return False
    return True


def not_me_url(token: str) -> str:
    # The token goes in the query string, not the path: Django's request logging ("Not Found:
    # /path") prints paths only.
    return f"{settings.SITE_URL}{reverse('public_not_me')}?{urlencode({'t': token})}"


def send_reference_to_alternate_contact(ticket_id: int) -> bool:
    """Tell the alternate e-mail that a request was received: the reference only."""
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None or not ticket.alternate_email:
        return False
    with translation.override(ticket.language):
        return _send(
            subject=_("Recovery request %(reference)s received") % {"reference": ticket.reference},
            template="emails/intake_alternate_contact.txt",
            context={"reference": ticket.reference},
            to=ticket.alternate_email,
            ref=ticket.reference,
        )


def send_recovery_requested(ticket: Ticket, *, recipient: str, to: str, not_me_url: str) -> None:
    """Tell the account's mailbox (or its manager) that a recovery was requested for it.

    Raises whatever the mail backend raises: the outbox counts it as a failed attempt.
    """
    template = (
        "emails/intake_manager_notice.txt"
        if recipient == NotMeLink.Recipient.MANAGER
        else "emails/intake_account_notice.txt"
    )
    with translation.override(ticket.language):
        subject = (
            _("A recovery was requested for the account %(upn)s")
            if recipient == NotMeLink.Recipient.MANAGER
            else _("A recovery was requested for your account")
        ) % {"upn": ticket.upn}
        _deliver(
            subject=f"{subject} ({ticket.reference})",
            template=template,
            context={
                "reference": ticket.reference,
                "upn": ticket.upn,
                "full_name": ticket.full_name,
                "created_at": ticket.created_at,
                "not_me_url": not_me_url,
                "link_days": NOT_ME_LINK_DAYS,
            },
            to=to,
        )

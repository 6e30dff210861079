"""The "a recovery was requested" notices owed to an account's mailbox and its manager.

A notice is owed (an OutboundMail of kind RECOVERY_REQUESTED, tickets.outbox) in the transaction
that learns whom to tell, and sent by the worker with back-off until it leaves or is given up
(tickets.notifications). A mail server that is down at intake therefore delays the warning; it
never loses it. The "this wasn't me" link it carries is minted afresh at each attempt.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from tickets import outbox
from tickets.models import MailKind, NotMeLink, OutboundMail, Ticket


def recipients(ticket: Ticket) -> dict[str, str]:
    """Who must be told about a request, by role: the account's own mailbox (the directory's
    ``mail``, else the UPN) and the manager of record when the directory names one."""
    facts = ticket.directory_facts or {}
    user = facts.get("user") or {}
    manager = facts.get("manager") or {}
    found = {NotMeLink.Recipient.ACCOUNT.value: (user.get("mail") or ticket.upn).lower()}
    manager_mail = (manager.get("mail") or ticket.manager_upn or "").lower()
    if manager_mail:
        found[NotMeLink.Recipient.MANAGER.value] = manager_mail
    return found


@transaction.atomic
def owe_recovery_requested(ticket: Ticket) -> list[OutboundMail]:
    """Owe the ticket's recipients their notice; the worker sends each after commit.

    Idempotent: each recipient is owed one notice per ticket, ever (a recipient told before the
    outbox existed, i.e. holding a link already, is not owed another). Returns the new ones.
    """
    told = set(NotMeLink.objects.filter(ticket=ticket).values_list("recipient", flat=True))
    owed_before = set(
        OutboundMail.objects.filter(ticket=ticket, kind=MailKind.RECOVERY_REQUESTED).values_list(
            "recipient", flat=True
        )
    )
    owed = []
    for recipient in recipients(ticket):
        if recipient in told or recipient in owed_before:
            continue
        try:
            with transaction.atomic():
                owed.append(
                    outbox.owe(
                        ticket,
                        kind=MailKind.RECOVERY_REQUESTED,
                        recipient=recipient,
                        language=ticket.language,
                    )
                )
        except IntegrityError:  # owed concurrently (a repeated lookup outcome): once is enough
            continue
    return owed

"""The "a recovery was requested" notices owed to an account's mailbox and its manager: an outbox.

A notice is owed (a RecoveryNotice row) in the transaction that learns whom to tell, sent after
commit, and sent again by the beat (``send_due_notices``) with back-off until it leaves or is
given up. A mail server that is down at intake therefore delays the warning; it never loses it.

No link token is stored to make re-sending possible: each attempt mints a fresh "this wasn't
me" link and drops the link of the failed attempt before it (whose token went nowhere). The
link stays single-use: only one link per recipient exists at any time, consumed by a
compare-and-swap on ``used_at`` (tickets.intake.not_me). If a server accepted a mail and still
reported an error, that mail's link is void once the next attempt rotates it; the next mail
carries the working one.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit import log
from audit.actions import Action
from audit.models import Outcome
from tickets import notifications
from tickets.intake.not_me import mint_not_me_token
from tickets.models import NoticeState, NotMeLink, RecoveryNotice, Ticket

logger = logging.getLogger(__name__)

# A sender holds a claimed notice this long: far above one SMTP exchange (EMAIL_TIMEOUT), so a
# slow send is never doubled, and short enough that a crashed sender's notice is soon due again.
SEND_LEASE = dt.timedelta(minutes=5)
# Back-off between failed attempts: 1, 2, 4, ... minutes, at most an hour; given up after
# MAX_ATTEMPTS (about seven hours), well inside the link's validity.
FIRST_RETRY_SECONDS = 60
MAX_RETRY_SECONDS = 3600
MAX_ATTEMPTS = 12


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


def retry_delay(attempts: int) -> dt.timedelta:
    """How long to wait after the ``attempts``-th failed attempt."""
    seconds = FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0)
    return dt.timedelta(seconds=min(seconds, MAX_RETRY_SECONDS))


@transaction.atomic
def owe_recovery_requested(ticket: Ticket) -> list[RecoveryNotice]:
    """Record the notices the ticket's recipients are owed and send the new ones after commit.

    Idempotent: each recipient is owed one notice per ticket, ever (a recipient told before the
    outbox existed, i.e. holding a link already, is not owed another). Returns the new notices.
    """
    now = timezone.now()
    owed = []
    told = set(NotMeLink.objects.filter(ticket=ticket).values_list("recipient", flat=True))
    for recipient in recipients(ticket):
        if recipient in told:
            continue
        notice, created = RecoveryNotice.objects.get_or_create(
            ticket=ticket, recipient=recipient, defaults={"next_attempt_at": now}
        )
        if created:
            owed.append(notice)
    ids = [notice.pk for notice in owed]
    if ids:
        transaction.on_commit(lambda: _send_each(ids))
    return owed


def _send_each(ids: list[int]) -> None:
    for notice_id in ids:
        send_notice(notice_id)


def send_due_notices(*, limit: int = 100) -> int:
    """Send the notices whose next attempt is due, oldest first (the beat). Returns how many
    left. Safe to run in several processes at once: each notice is claimed before sending."""
    now = timezone.now()
    due = (
        RecoveryNotice.objects.filter(state=NoticeState.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(send_notice(notice_id) for notice_id in list(due))


def send_notice(notice_id: int) -> bool:
    """Make one attempt at a due notice; True if the mail left.

    Claims the notice first (a conditional update that also counts the attempt and moves the
    next attempt a lease away): a notice not due, already sent or being sent elsewhere is left
    alone. Side effects: a fresh "this wasn't me" link, the mail, an audit event either way.
    Never raises for a mail failure: it is recorded and retried later.
    """
    claimed = _claim(notice_id)
    if claimed is None:
        return False
    notice, address, token = claimed
    try:
        notifications.send_recovery_requested(
            notice.ticket,
            recipient=notice.recipient,
            to=address,
            not_me_url=notifications.not_me_url(token),
        )
    except Exception as exc:  # SMTP and backends raise many kinds; each is one failed attempt
        _record_failure(notice, error=type(exc).__name__)
        return False
    _record_sent(notice)
    return True


@transaction.atomic
def _claim(notice_id: int) -> tuple[RecoveryNotice, str, str] | None:
    now = timezone.now()
    claimed = RecoveryNotice.objects.filter(
        pk=notice_id, state=NoticeState.PENDING, next_attempt_at__lte=now
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + SEND_LEASE)
    if not claimed:
        return None
    notice = RecoveryNotice.objects.select_related("ticket").get(pk=notice_id)
    ticket = notice.ticket
    address = recipients(ticket).get(notice.recipient, "")
    link = NotMeLink.objects.filter(ticket=ticket, recipient=notice.recipient).first()
    if not address or (link is not None and link.used_at is not None):
        # Nobody to tell any more, or the recipient already used a link (so they were told).
        RecoveryNotice.objects.filter(pk=notice.pk).update(state=NoticeState.CANCELLED)
        return None
    if link is not None:
        link.delete()  # minted for an attempt whose mail did not leave: its token is void
    token = mint_not_me_token(ticket, recipient=notice.recipient, sent_to=address)
    if token is None:  # a concurrent sender minted one meanwhile: the lease says it cannot be
        raise RuntimeError(f"recovery notice {notice.pk}: link minted concurrently")
    return notice, address, token


@transaction.atomic
def _record_sent(notice: RecoveryNotice) -> None:
    RecoveryNotice.objects.filter(pk=notice.pk, state=NoticeState.PENDING).update(
        state=NoticeState.SENT, sent_at=timezone.now(), last_error=""
    )
    log.record(
        Action.NOTICE_SENT,
        ticket_ref=notice.ticket.reference,
        subject=notice.ticket.upn,
        data={"recipient": notice.recipient, "attempt": notice.attempts},
    )


@transaction.atomic
def _record_failure(notice: RecoveryNotice, *, error: str) -> None:
    # The token of this attempt reached nobody: its link goes, the next attempt mints another.
    NotMeLink.objects.filter(
        ticket=notice.ticket, recipient=notice.recipient, used_at__isnull=True
    ).delete()
    give_up = notice.attempts >= MAX_ATTEMPTS
    changes: dict[str, object] = {"last_error": error[:64]}
    if give_up:
        changes["state"] = NoticeState.ABANDONED
    else:
        changes["next_attempt_at"] = timezone.now() + retry_delay(notice.attempts)
    RecoveryNotice.objects.filter(pk=notice.pk, state=NoticeState.PENDING).update(**changes)
    if give_up:
        _flag_untold(notice)
    logger.warning(
        "recovery notice %s (%s, %s) not sent, attempt %s: %s%s",
        notice.pk,
        notice.ticket.reference,
        notice.recipient,
        notice.attempts,
        error,
        "; given up" if give_up else "",
    )
    log.record(
        Action.NOTICE_ABANDONED if give_up else Action.NOTICE_FAILED,
        ticket_ref=notice.ticket.reference,
        subject=notice.ticket.upn,
        outcome=Outcome.FAILURE,
        data={"recipient": notice.recipient, "attempt": notice.attempts, "error": error[:64]},
    )


def _flag_untold(notice: RecoveryNotice) -> None:
    """Nobody could tell this recipient about the request: the real account holder may not know
    a recovery is under way. The case is flagged for the agent and security is alerted."""
    from tickets.workflow import alert_security  # the workflow imports this package

    ticket = notice.ticket
    reason = (
        f"The {notice.recipient} notice could not be e-mailed after {notice.attempts} attempts: "
        "call them on a trusted number before going on."
    )
    earlier = Ticket.objects.filter(pk=ticket.pk).values_list("flag_reason", flat=True).first()
    combined = f"{earlier} {reason}" if earlier else reason
    Ticket.objects.filter(pk=ticket.pk).update(flagged=True, flag_reason=combined[:300])
    reference = ticket.reference
    transaction.on_commit(
        lambda: alert_security(
            f"[Recovery Portal] Recovery notice not delivered: {reference}",
            f"{reason}\n\nTicket {reference}.",
        )
    )

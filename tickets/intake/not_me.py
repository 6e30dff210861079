"""The "this wasn't me" links: minted for one recipient, used once."""

from __future__ import annotations

import hashlib
import logging
import secrets

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from audit import log
from audit.actions import Action
from tickets import workflow
from tickets.models import (
    NotMeLink,
    Ticket,
)

logger = logging.getLogger(__name__)

_NOT_ME_SALT = "tickets.intake.not_me"

# How long a "this wasn't me" link works (days).
NOT_ME_LINK_DAYS = 7


# --- "This wasn't me" ------------------------------------------------------------------------


def _nonce_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def mint_not_me_token(ticket: Ticket, *, recipient: str, sent_to: str) -> str | None:
    """A signed, single-purpose token for one recipient's "this wasn't me" link.

    Returns None if that recipient already has a link for this ticket (so nobody is mailed
    twice). Only the hash of the token's random nonce is stored.
    """
    nonce = secrets.token_urlsafe(24)
    try:
        with transaction.atomic():
            NotMeLink.objects.create(
                ticket=ticket,
                recipient=recipient,
                sent_to=sent_to,
                nonce_hash=_nonce_hash(nonce),
            )
    except IntegrityError:
        return None
    return signing.dumps({"t": ticket.pk, "n": nonce}, salt=_NOT_ME_SALT, compress=True)


def not_me_url(token: str) -> str:
    """The link a recipient opens. The token goes in the query string, not the path: Django's
    request logging ("Not Found: /path") prints paths only."""
    return f"{settings.SITE_URL}{reverse('public_not_me')}?{urlencode({'t': token})}"


class NotMeLinkInvalid(Exception):
    """The link is forged, expired or already used.

    ``reason`` says which, for the logs and the audit trail (never for the visitor):
    bad_signature, expired, replayed or unknown. ``ticket_ref`` is set only when the token's
    signature was valid (so a forger cannot make us name a case of their choosing).
    """

    def __init__(self, reason: str = "unknown", *, ticket_ref: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.ticket_ref = ticket_ref


def _reference_of(ticket_id: object) -> str:
    try:
        pk = int(ticket_id)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return ""
    return Ticket.objects.filter(pk=pk).values_list("reference", flat=True).first() or ""


def _read_token(token: str) -> tuple[int, str]:
    """The (ticket id, nonce) a token carries; raises NotMeLinkInvalid with the reason."""
    max_age = NOT_ME_LINK_DAYS * 24 * 3600
    try:
        payload = signing.loads(token, salt=_NOT_ME_SALT, max_age=max_age)
    except signing.SignatureExpired:
        # Signed by us, only too old: the case it names is worth a line in the trail.
        stale = signing.loads(token, salt=_NOT_ME_SALT)
        ticket_ref = _reference_of(stale.get("t") if isinstance(stale, dict) else None)
        raise NotMeLinkInvalid("expired", ticket_ref=ticket_ref) from None
    except signing.BadSignature:
        raise NotMeLinkInvalid("bad_signature") from None
    try:
        return int(payload["t"]), str(payload["n"])
    except (KeyError, TypeError, ValueError):
        raise NotMeLinkInvalid("unknown") from None


def open_not_me_link(token: str) -> NotMeLink:
    """The unused link a token stands for; raises NotMeLinkInvalid (with a reason) otherwise."""
    ticket_id, nonce = _read_token(token)
    link = (
        NotMeLink.objects.select_related("ticket")
        .filter(ticket_id=ticket_id, nonce_hash=_nonce_hash(nonce))
        .first()
    )
    if link is None:
        raise NotMeLinkInvalid("unknown", ticket_ref=_reference_of(ticket_id))
    if link.used_at is not None:
        raise NotMeLinkInvalid("replayed", ticket_ref=link.ticket.reference)
    return link


@transaction.atomic
def report_not_me(token: str, *, request: HttpRequest | None = None) -> Ticket:
    """The account holder or manager says they did not ask for this recovery.

    Consumes the link (compare-and-swap on ``used_at``: single use), then hands over to
    ``workflow.report_not_me``: the case is frozen (and contained if already carried out) and
    the security officers are alerted after commit.
    """
    link = open_not_me_link(token)
    used = NotMeLink.objects.filter(pk=link.pk, used_at__isnull=True).update(used_at=timezone.now())
    if used != 1:
        raise NotMeLinkInvalid("replayed", ticket_ref=link.ticket.reference)
    # Staff-facing text stays in English whatever the reporter's language.
    who = {"account": "account holder", "manager": "manager of record"}[link.recipient]
    reason = f"Reported as not requested by the {who} (e-mailed link)."
    ticket = workflow.report_not_me(link.ticket, reason=reason, request=request)
    log.record(
        Action.LINK_USED,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        data={"purpose": "not_me", "recipient": link.recipient, "status": ticket.status},
    )
    return ticket

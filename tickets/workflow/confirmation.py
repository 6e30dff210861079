"""The manager of record's confirmation through a signed, expiring, single-use link."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from audit import log
from audit.actions import Action
from tickets import outbox
from tickets import policy as policy_module
from tickets.models import (
    MailKind,
    ManagerConfirmation,
    ManagerDecision,
    Status,
    Ticket,
    Verification,
)
from tickets.workflow.approval import release_if_ready
from tickets.workflow.duties import (
    DutyConflict,
    Staff,
    audits_refusals,
    check_not_party,
    identities_of,
    refuse,
)
from tickets.workflow.freezing import freeze
from tickets.workflow.transitions import TransitionRefused, lock

_MANAGER_LINK_SALT = "tickets.workflow.manager_confirmation"


class LinkInvalid(Exception):
    """A manager link that is forged, expired, superseded or already used."""


def _token_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def request_manager_confirmation(ticket: Ticket, verification: Verification) -> None:
    """Open the round's confirmation and owe its link to the manager of record (with none, to
    the security officers). Call in the verification's transaction; the worker sends it."""
    now = timezone.now()
    confirmation = ManagerConfirmation.objects.create(
        ticket=ticket,
        verification=verification,
        manager_upn=ticket.manager_upn.lower(),
        routed_to_security=not ticket.manager_upn,
        created_at=now,
        expires_at=now + policy_module.current().manager_link_lifetime,
    )
    outbox.owe(ticket, kind=MailKind.MANAGER_LINK, confirmation=confirmation)


def manager_link_owed(confirmation: ManagerConfirmation) -> bool:
    """Whether the confirmation still waits for its link: undecided, unexpired, its round
    current and the case waiting for approval."""
    return (
        confirmation.decision == ManagerDecision.PENDING
        and confirmation.expires_at > timezone.now()
        and confirmation.verification.active
        and confirmation.ticket.status == Status.VERIFIED
    )


def mint_manager_link(confirmation: ManagerConfirmation) -> str:
    """A fresh link for the confirmation, voiding any link minted before (only the hash of its
    random nonce is stored). Call in the mail attempt's transaction: the link is for that mail
    only."""
    nonce = secrets.token_urlsafe(32)
    ManagerConfirmation.objects.filter(pk=confirmation.pk).update(token_hash=_token_hash(nonce))
    token = signing.dumps({"c": confirmation.pk, "n": nonce}, salt=_MANAGER_LINK_SALT)
    return f"{settings.SITE_URL}{reverse('manager_confirm')}?{urlencode({'t': token})}"


def void_manager_link(confirmation: ManagerConfirmation) -> None:
    """The mail carrying the last link did not leave: that link no longer opens anything."""
    ManagerConfirmation.objects.filter(pk=confirmation.pk, decision=ManagerDecision.PENDING).update(
        token_hash=""
    )


class ManagerLinkRejected(LinkInvalid):
    """LinkInvalid with its ``reason`` for the logs and the audit trail (never for the visitor):
    bad_signature, expired, replayed, unknown or superseded (the case moved on). ``ticket_ref``
    is set only when the token's signature was valid."""

    def __init__(self, reason: str, *, ticket_ref: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.ticket_ref = ticket_ref


def _reference_of(confirmation_id: object) -> str:
    try:
        pk = int(confirmation_id)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return ""
    found = ManagerConfirmation.objects.filter(pk=pk).values_list("ticket__reference", flat=True)
    return found.first() or ""


def _read_token(token: str) -> tuple[int, str]:
    """The (confirmation id, nonce) a token carries; raises ManagerLinkRejected otherwise."""
    pol = policy_module.current()
    try:
        payload = signing.loads(token, salt=_MANAGER_LINK_SALT, max_age=pol.manager_link_lifetime)
    except signing.SignatureExpired:
        stale = signing.loads(token, salt=_MANAGER_LINK_SALT)
        ticket_ref = _reference_of(stale.get("c") if isinstance(stale, dict) else None)
        raise ManagerLinkRejected("expired", ticket_ref=ticket_ref) from None
    except signing.BadSignature:
        raise ManagerLinkRejected("bad_signature") from None
    try:
        return int(payload["c"]), str(payload["n"])
    except (KeyError, TypeError, ValueError):
        raise ManagerLinkRejected("unknown") from None


def open_manager_link(token: str) -> ManagerConfirmation:
    """The pending confirmation a link stands for; LinkInvalid for forged, expired or used
    (a ManagerLinkRejected, whose ``reason`` says which)."""
    pk, nonce = _read_token(token)
    confirmation = (
        ManagerConfirmation.objects.select_related("ticket", "verification").filter(pk=pk).first()
    )
    if confirmation is None:
        raise ManagerLinkRejected("unknown")
    ticket_ref = confirmation.ticket.reference
    stored = confirmation.token_hash
    if not stored or not constant_time_compare(stored, _token_hash(nonce)):
        raise ManagerLinkRejected("unknown", ticket_ref=ticket_ref)
    if confirmation.decision != ManagerDecision.PENDING:
        raise ManagerLinkRejected("replayed", ticket_ref=ticket_ref)
    if confirmation.expires_at <= timezone.now():
        raise ManagerLinkRejected("expired", ticket_ref=ticket_ref)
    if not confirmation.verification.active or confirmation.ticket.status != Status.VERIFIED:
        raise ManagerLinkRejected("superseded", ticket_ref=ticket_ref)
    return confirmation


def _check_manager_identity(confirmation: ManagerConfirmation, *, by: Any) -> None:
    ticket = confirmation.ticket
    if confirmation.routed_to_security:
        if not by.has_perm("tickets.approve_privileged"):
            raise PermissionDenied("Only a security officer may confirm this case.")
    elif confirmation.manager_upn not in identities_of(by, verified_only=True):
        refuse(
            ticket,
            rule="not_manager_of_record",
            message=_("You are signed in as someone other than the manager of record."),
        )
    if by.pk == confirmation.verification.verified_by_id:
        refuse(
            ticket,
            rule="verifier_confirming",
            message=_("The verifier cannot also confirm."),
        )
    check_not_party(ticket, by=by)


def may_decide_as_manager(confirmation: ManagerConfirmation, user: Any) -> bool:
    """Whether ``user`` is the person this confirmation waits for (for the page; the decision
    itself checks again)."""
    try:
        _check_manager_identity(confirmation, by=user)
    except (DutyConflict, PermissionDenied):
        return False
    return True


@audits_refusals
@transaction.atomic
def decide_as_manager(
    token: str,
    *,
    by: Staff,
    confirm: bool,
    reason: str,
    request: HttpRequest | None = None,
) -> ManagerConfirmation:
    """The manager of record (or the security officer standing in) confirms or declines.

    Precondition: the link is valid and unused, the ticket VERIFIED, ``by`` is the manager of
    record (e-mail/UPN compared case-insensitively) and not the verifier, holder or requester.
    The link is consumed by compare-and-swap (single use). Declining freezes the case and alerts
    security; confirming may release the execution (see ``approve``).
    """
    confirmation = open_manager_link(token)
    ticket = lock(confirmation.ticket)
    _check_manager_identity(confirmation, by=by)
    if not reason.strip():
        raise TransitionRefused(_("Give a reason."))
    decision = ManagerDecision.CONFIRMED if confirm else ManagerDecision.DECLINED
    used = ManagerConfirmation.objects.filter(
        pk=confirmation.pk, decision=ManagerDecision.PENDING
    ).update(decision=decision, decided_by=by, decided_at=timezone.now(), reason=reason.strip())
    if used != 1:
        raise ManagerLinkRejected("replayed", ticket_ref=ticket.reference)
    confirmation.refresh_from_db()
    log.record(
        Action.MANAGER_CONFIRMED if confirm else Action.MANAGER_DECLINED,
        actor=by,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        reason=reason.strip(),
        data={"routed_to_security": confirmation.routed_to_security},
    )
    if confirm:
        release_if_ready(ticket, by=by, request=request)
    else:
        freeze(ticket, reason=f"Manager declined: {reason.strip()}"[:300], by=by, request=request)
    return confirmation

"""Filing a request: the ticket first, duplicates linked, then the directory lookup."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone, translation

from audit import log
from audit.actions import Action
from graphops import operations
from graphops.models import Kind
from tickets import outbox
from tickets import policy as policy_module
from tickets.intake.codes import hash_claim_code, new_claim_code, new_reference
from tickets.models import (
    OPEN_STATUSES,
    DirectoryState,
    MailKind,
    Ticket,
)

logger = logging.getLogger(__name__)


# --- The request -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IntakeRequest:
    """The IT request template, validated (see tickets/forms_public.py)."""

    full_name: str
    upn: str
    department: str
    urgency: str
    blocked_work: str
    alternate_phone: str
    alternate_email: str
    what_happened: str
    methods_still_working: list[str]
    backup_enabled: str
    preferred_verification: str
    details: str


@dataclass(frozen=True)
class Receipt:
    """What the requester is shown once: the reference and the claim code (never stored)."""

    ticket: Ticket
    claim_code: str


def _lock_upn(upn: str) -> None:
    # Two requests for one UPN at the same moment must not both miss each other.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"intake:{upn}"])


@transaction.atomic
def submit_request(data: IntakeRequest, *, request: HttpRequest | None = None) -> Receipt:
    """File a recovery request: the ticket first, then the directory lookup (after commit).

    Answers the same for every UPN. A second open request for the same UPN is linked to the
    first (``duplicate_of``) and both are flagged for the agent. Side effects, owed in this
    transaction and carried out by the worker: the lookup (graphops), the reference-only mail
    to the alternate contact.
    """
    upn = data.upn.strip().lower()
    _lock_upn(upn)
    earlier = (
        Ticket.objects.filter(upn=upn, status__in=OPEN_STATUSES).order_by("created_at").first()
    )
    code = new_claim_code()
    reference = new_reference()
    fields = {k: v for k, v in data.__dict__.items() if k != "upn"}
    ticket = Ticket.objects.create(
        reference=reference,
        upn=upn,
        claim_code_hash=hash_claim_code(reference, code),
        language=translation.get_language() or settings.LANGUAGE_CODE,
        sla_due_at=policy_module.current().sla_due_at(data.urgency, received_at=timezone.now()),
        **fields,
    )
    if earlier is not None:
        _link_duplicate(ticket, earlier)
    log.record(
        Action.TICKET_SUBMITTED,
        request=request,
        ticket_ref=ticket.reference,
        subject=upn,
        data={
            "what_happened": ticket.what_happened,
            "urgency": ticket.urgency,
            "duplicate_of": earlier.reference if earlier else "",
            "language": ticket.language,
        },
    )
    _request_lookup(ticket)
    if ticket.alternate_email:
        # Sent by the worker: an SMTP relay's latency (or outage) stays out of the request.
        outbox.owe(ticket, kind=MailKind.REFERENCE, language=ticket.language)
    return Receipt(ticket=ticket, claim_code=code)


def _link_duplicate(ticket: Ticket, earlier: Ticket) -> None:
    first = earlier.duplicate_of or earlier
    reason = f"Another open request exists for this account: {first.reference}."
    Ticket.objects.filter(pk=ticket.pk).update(duplicate_of=first, flagged=True, flag_reason=reason)
    Ticket.objects.filter(pk=first.pk, flagged=False).update(
        flagged=True,
        flag_reason=f"A further request was filed for this account: {ticket.reference}.",
    )
    ticket.refresh_from_db()


def _request_lookup(ticket: Ticket) -> None:
    """Ask graphops for the directory facts. Whatever goes wrong, the ticket stays filed."""
    try:
        with transaction.atomic():
            operations.request_operation(
                Kind.DIRECTORY_LOOKUP, target_upn=ticket.upn, correlation=ticket.reference
            )
    except Exception:
        logger.exception("directory lookup could not be requested for %s", ticket.reference)
        Ticket.objects.filter(pk=ticket.pk).update(directory_state=DirectoryState.UNREACHABLE)

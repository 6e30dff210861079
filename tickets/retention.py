"""Retention: a closed case's own personal fields go when the audit trail purges that case.

audit decides which cases are past retention (audit.retention) and says so with
audit.signals.personal_data_purged; this module blanks the same cases' rows here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from tickets.models import ManagerConfirmation, NotMeLink, Ticket, Verification

# Keeps Ticket.upn non-empty (forms and lookups expect an address) while naming nobody; the
# .invalid top-level domain can never receive mail.
PURGED_UPN = "purged@purged.invalid"


@transaction.atomic
def purge_personal_data(references: Iterable[str]) -> int:
    """Blank the personal fields of the cases ``references`` and of their workflow records.

    Leaves status, dates, choices and the case's shape (what happened, the plan) for the
    statistics. Approvals are append-only (database trigger) and keep their notes. Idempotent:
    a second call writes the same blanks. Returns the number of tickets blanked.
    """
    tickets = Ticket.objects.filter(reference__in=list(references))
    count = tickets.update(
        full_name="",
        upn=PURGED_UPN,
        department="",
        blocked_work="",
        alternate_phone="",
        alternate_email="",
        details="",
        directory_facts={},
        manager_upn="",
    )
    Verification.objects.filter(ticket__in=tickets).update(
        evidence="", liveness_prompts=[], callback_number=""
    )
    # The constraint wants someone behind each confirmation: the placeholder names nobody.
    ManagerConfirmation.objects.filter(ticket__in=tickets).exclude(manager_upn="").update(
        manager_upn=PURGED_UPN
    )
    ManagerConfirmation.objects.filter(ticket__in=tickets).update(reason="")
    NotMeLink.objects.filter(ticket__in=tickets).update(sent_to="")
    return count


def on_personal_data_purged(sender: Any, *, ticket_refs: list[str], **kwargs: Any) -> None:
    """Receiver of audit.signals.personal_data_purged (sent after the audit purge commits)."""
    purge_personal_data(ticket_refs)

"""The public status page: what a case shows, and the session grant after a claim code."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.db import models
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from audit import log
from audit.actions import Action
from tickets.models import (
    Status,
    Ticket,
)

logger = logging.getLogger(__name__)

_STATUS_GRANT_KEY = "tickets.status_grant"
STATUS_GRANT_SECONDS = 30 * 60


# --- The status page -------------------------------------------------------------------------


class PublicStage(models.TextChoices):
    """Where the case stands, in the requester's words (the six steps they see)."""

    RECEIVED = "received", _("Received")
    VERIFYING = "verifying", _("Verifying identity")
    AWAITING_APPROVAL = "awaiting_approval", _("Awaiting approval")
    IN_PROGRESS = "in_progress", _("Being carried out")
    READY = "ready", _("Ready")
    CLOSED = "closed", _("Closed")


_STAGE_OF_STATUS = {
    Status.NEW: PublicStage.RECEIVED,
    Status.IN_VERIFICATION: PublicStage.VERIFYING,
    Status.VERIFIED: PublicStage.AWAITING_APPROVAL,
    Status.APPROVED: PublicStage.IN_PROGRESS,
    Status.EXECUTING: PublicStage.IN_PROGRESS,
    Status.FAILED: PublicStage.IN_PROGRESS,
    Status.EXECUTED: PublicStage.READY,
    Status.RESTORED: PublicStage.CLOSED,
    Status.CLOSED: PublicStage.CLOSED,
    # A frozen case shows where it stood; the page says it is on hold.
    Status.FROZEN: PublicStage.RECEIVED,
}


@dataclass(frozen=True)
class CaseView:
    """What the public status page may show about a case: nothing from the directory."""

    reference: str
    stage: PublicStage
    stages: list[tuple[str, str, str]]  # (value, label, "done" | "current" | "todo")
    on_hold: bool
    restored: bool
    show_checklist: bool
    status: str


def case_view(ticket: Ticket) -> CaseView:
    stage = _STAGE_OF_STATUS.get(Status(ticket.status), PublicStage.RECEIVED)
    order = list(PublicStage)
    position = order.index(stage)
    stages = [
        (s.value, str(s.label), "done" if i < position else "current" if i == position else "todo")
        for i, s in enumerate(order)
    ]
    return CaseView(
        reference=ticket.reference,
        stage=stage,
        stages=stages,
        on_hold=ticket.status == Status.FROZEN,
        restored=ticket.status == Status.RESTORED,
        show_checklist=stage in (PublicStage.READY, PublicStage.CLOSED),
        status=ticket.status,
    )


def grant_status_access(request: HttpRequest, ticket: Ticket) -> None:
    """Remember, in this browser session only, that the claim code for ``ticket`` was given.

    The session key is cycled (no fixation) and only the ticket id is kept, never the code.
    """
    log.record(
        Action.LINK_USED,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        data={"purpose": "status_page"},
    )
    request.session.cycle_key()
    request.session[_STATUS_GRANT_KEY] = {
        "ticket": ticket.pk,
        "until": int(time.time()) + STATUS_GRANT_SECONDS,
    }


def ticket_from_status_grant(request: HttpRequest) -> Ticket | None:
    """The ticket this session proved its claim code for, while the grant lasts, else None.

    The public reveal view uses this too (``/status/reveal/``)."""
    grant = request.session.get(_STATUS_GRANT_KEY)
    if not isinstance(grant, dict) or int(grant.get("until", 0)) < time.time():
        return None
    return Ticket.objects.filter(pk=int(grant.get("ticket", 0))).first()


def revoke_status_access(request: HttpRequest) -> None:
    request.session.pop(_STATUS_GRANT_KEY, None)

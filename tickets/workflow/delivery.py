"""The once-only delivery of the Temporary Access Pass."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from audit import log
from audit.actions import Action
from graphops import operations
from graphops.models import GraphOperation
from tickets.models import (
    Status,
    TapChannel,
    TapDelivery,
    Ticket,
)
from tickets.workflow.duties import Staff, require
from tickets.workflow.transitions import TransitionRefused, active_verification, lock


def _revealable(ticket: Ticket, *, channel: str, by: Any) -> TapDelivery:
    """The round's delivery if ``by`` may have its pass shown through ``channel`` now; raises
    TransitionRefused (or PermissionDenied for the agent channel) otherwise."""
    verification = active_verification(ticket)
    delivery = getattr(verification, "tap_delivery", None) if verification else None
    if ticket.status != Status.EXECUTED or delivery is None or delivery.channel != channel:
        raise TransitionRefused(_("There is no pass to show here."))
    if channel == TapChannel.AGENT:
        require(by, "tickets.verify_identity")
        if by.pk != verification.verified_by_id:  # type: ignore[union-attr]
            raise PermissionDenied("Only the verifying agent may read out the pass.")
    if delivery.revealed_at is not None or delivery.available_until <= timezone.now():
        raise TransitionRefused(_("The pass was already shown, or its time to be shown is over."))
    return delivery


def may_reveal(ticket: Ticket, *, channel: str, user: Any = None) -> bool:
    """Whether the round's pass may be shown now through ``channel`` (to ``user``, for the agent
    channel): EXECUTED, the plan's channel, never shown, within its window. The question the
    pages ask before offering the button; ``reveal_tap`` asks it itself."""
    try:
        _revealable(ticket, channel=channel, by=user)
    except (TransitionRefused, PermissionDenied):
        return False
    return True


@transaction.atomic
def reveal_tap(
    ticket: Ticket,
    *,
    channel: str,
    by: Staff | None = None,
    request: HttpRequest | None = None,
) -> str:
    """Show the round's TAP once, through the channel the plan chose, then it is wiped.

    Precondition: ``may_reveal`` — EXECUTED, a delivery for ``channel`` still in its window and
    never shown; for the agent channel ``by`` must be the verifying agent (reading it out on the
    live call). Compare-and-swap on the delivery, then graphops decrypts-and-wipes under a row
    lock: a second reveal, concurrent or later, fails. Audited without the value.
    """
    ticket = lock(ticket)
    delivery = _revealable(ticket, channel=channel, by=by)
    now = timezone.now()
    shown = TapDelivery.objects.filter(
        pk=delivery.pk, revealed_at__isnull=True, available_until__gt=now
    ).update(revealed_at=now, revealed_by=by)
    if shown != 1:
        raise TransitionRefused(_("The pass was already shown, or its time to be shown is over."))
    operation = GraphOperation.objects.get(pk=delivery.operation_id)
    try:
        value = operations.reveal_secret(operation, by=cast("User | None", by))
    except operations.SecretUnavailable as exc:
        raise TransitionRefused(str(exc)) from None
    log.record(
        Action.TICKET_TAP_REVEALED,
        actor=by,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        data={"channel": channel, "operation_id": str(operation.pk)},
    )
    return value


def tap_delivery_for(ticket: Ticket) -> TapDelivery | None:
    """The current round's pass delivery, if the plan issued a pass and it was issued."""
    verification = active_verification(ticket)
    return getattr(verification, "tap_delivery", None) if verification else None


def pass_goes_to_requester(ticket: Ticket) -> bool:
    """Whether the case is ready and its plan hands the pass to the requester (shown or not:
    the status page offers it, and the reveal explains when it was shown already)."""
    delivery = tap_delivery_for(ticket)
    return (
        ticket.status == Status.EXECUTED
        and delivery is not None
        and delivery.channel == TapChannel.REQUESTER
    )

"""The once-only delivery of the Temporary Access Pass."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

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
from tickets.workflow._core import TransitionRefused, _lock, _require, active_verification

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    # Who acts: the signed-in staff member (an anonymous one is refused by the guards).
    Staff = User | AnonymousUser


@transaction.atomic
def reveal_tap(
    ticket: Ticket,
    *,
    channel: str,
    by: Staff | None = None,
    request: HttpRequest | None = None,
) -> str:
    """Show the round's TAP once, through the channel the plan chose, then it is wiped.

    Precondition: EXECUTED, a delivery for ``channel`` still in its window and never shown. For
    the agent channel ``by`` must be the verifying agent (reading it out on the live call).
    Compare-and-swap on the delivery, then graphops decrypts-and-wipes under a row lock: a
    second reveal, concurrent or later, fails. Audited without the value.
    """
    ticket = _lock(ticket)
    verification = active_verification(ticket)
    delivery = getattr(verification, "tap_delivery", None) if verification else None
    if ticket.status != Status.EXECUTED or delivery is None or delivery.channel != channel:
        raise TransitionRefused(_("There is no pass to show here."))
    if channel == TapChannel.AGENT:
        _require(by, "tickets.verify_identity")
        if by is None or by.pk != verification.verified_by_id:  # type: ignore[union-attr]
            raise PermissionDenied("Only the verifying agent may read out the pass.")
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
    verification = active_verification(ticket)
    return getattr(verification, "tap_delivery", None) if verification else None


def requester_may_reveal(ticket: Ticket) -> bool:
    """Whether the status page should offer the requester their pass (shown once)."""
    delivery = tap_delivery_for(ticket)
    return (
        ticket.status == Status.EXECUTED
        and delivery is not None
        and delivery.channel == TapChannel.REQUESTER
        and delivery.revealed_at is None
        and delivery.available_until > timezone.now()
    )

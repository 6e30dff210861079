"""After execution: Graph is asked whether the person registered a new method (→ RESTORED) or
let the pass expire unused (→ reopened for an agent, flagged)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit import log
from audit.actions import Action
from graphops import operations
from graphops.models import GraphOperation, Kind, OpStatus
from tickets import policy as policy_module
from tickets.models import Status, Ticket, Verification
from tickets.workflow.transitions import active_verification, lock, move


@transaction.atomic
def request_follow_ups(*, now: dt.datetime | None = None) -> int:
    """Ask Graph about every executed case not checked lately (the beat calls this)."""
    pol = policy_module.current()
    now = now or timezone.now()
    due = Verification.objects.select_for_update(skip_locked=True, of=("self",)).filter(
        active=True,
        ticket__status=Status.EXECUTED,
        last_check_at__lte=now - dt.timedelta(minutes=pol.follow_up_minutes),
    )
    count = 0
    for verification in due.select_related("ticket"):
        delivery = getattr(verification, "tap_delivery", None)
        params = {"since": verification.executed_at.isoformat()}  # type: ignore[union-attr]
        if delivery is not None:
            op = GraphOperation.objects.filter(pk=delivery.operation_id).first()
            if op is not None and op.result.get("tap_id"):
                params["tap_id"] = op.result["tap_id"]
        operations.request_operation(
            Kind.CHECK_NEW_METHODS,
            target_upn=verification.ticket.upn,
            params=params,
            correlation=verification.ticket.reference,
        )
        Verification.objects.filter(pk=verification.pk).update(last_check_at=now)
        count += 1
    return count


@transaction.atomic
def record_follow_up(ticket: Ticket, *, operation: GraphOperation) -> Ticket:
    """What the follow-up found: a new method → RESTORED; TAP expired unused (or waited too
    long) → flagged and reopened for an agent; otherwise nothing yet."""
    ticket = lock(ticket)
    verification = active_verification(ticket)
    if ticket.status != Status.EXECUTED or verification is None:
        return ticket
    if operation.status != OpStatus.SUCCEEDED:
        return ticket
    result = operation.result or {}
    if result.get("has_new_method"):
        ticket = move(ticket, from_=[Status.EXECUTED], to=Status.RESTORED)
        log.record(
            Action.TICKET_RESTORED,
            ticket_ref=ticket.reference,
            subject=ticket.upn,
            data={"operation_id": str(operation.pk)},
        )
        return ticket
    executed_at = verification.executed_at or timezone.now()
    give_up = executed_at + dt.timedelta(hours=policy_module.current().follow_up_give_up_hours)
    if result.get("tap_expired_unused") or timezone.now() >= give_up:
        return reopen(ticket, reason="The pass expired unused; no new method was registered.")
    return ticket


@transaction.atomic
def reopen(ticket: Ticket, *, reason: str, by: Any = None, request: Any = None) -> Ticket:
    """Supersede the round and hand the case back to an agent, flagged, for a new round."""
    ticket = move(
        ticket,
        from_=[Status.EXECUTED, Status.FAILED],
        to=Status.IN_VERIFICATION,
        flagged=True,
        flag_reason=reason[:300],
    )
    Verification.objects.filter(ticket=ticket, active=True).update(active=False)
    log.record(
        Action.TICKET_REOPENED,
        actor=by,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        reason=reason,
    )
    return ticket

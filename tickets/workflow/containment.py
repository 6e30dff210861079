"""Undoing a recovery: "this wasn't me", fraud flags, the containment they set off in Graph, and
what that containment achieved (for the case page)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit import log
from audit.actions import Action
from graphops import operations
from graphops.models import GraphOperation, Kind, OpStatus
from tickets.models import ContainmentAction, RecoveryStep, TapDelivery, Ticket
from tickets.workflow.alerts import alert_security
from tickets.workflow.duties import Staff, require
from tickets.workflow.freezing import freeze
from tickets.workflow.transitions import POST_EXECUTION, TransitionRefused, lock


def _executed_something(ticket: Ticket) -> bool:
    return RecoveryStep.objects.filter(ticket=ticket, operation_id__isnull=False).exists()


def contain(ticket: Ticket, *, by: Any, revoke_sessions: bool = True) -> None:
    """Undo what a recovery gave away: delete the TAP, end the sessions (unless
    ``revoke_sessions`` is False), stop any unshown reveal. The Graph operations are queued
    after commit, each with its ContainmentAction row (what the case page reports)."""
    TapDelivery.objects.filter(ticket=ticket, revealed_at__isnull=True).update(
        available_until=timezone.now()
    )
    kinds: list[tuple[str, dict[str, Any]]] = [
        (Kind.DELETE_METHODS, {"method_types": ["temporaryAccessPass"]})
    ]
    if revoke_sessions:
        kinds.append((Kind.REVOKE_SESSIONS, {}))
    for kind, params in kinds:
        operation = operations.request_operation(
            kind,
            target_upn=ticket.upn,
            params=params,
            correlation=ticket.reference,
            requested_by=by,
        )
        ContainmentAction.objects.create(
            ticket=ticket, operation_id=operation.pk, kind=kind, requested_at=operation.created_at
        )
    log.record(
        Action.TICKET_CONTAINED,
        actor=by,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        data={"revoke_sessions": revoke_sessions},
    )


@transaction.atomic
def report_not_me(
    ticket: Ticket,
    *,
    reason: str = "Reported as not requested.",
    request: HttpRequest | None = None,
    by: Any = None,
    action: Action = Action.REPORTED_NOT_ME,
) -> Ticket:
    """The account holder (or their manager) says they did not ask for this recovery.

    Before execution: the case is frozen. After execution has begun: the case is frozen as
    well, the TAP is deleted in Graph and the sign-in sessions revoked, and any unshown pass
    can no longer be revealed. The security officers are alerted (urgently after execution) in
    every case, including a case already frozen or closed.
    """
    ticket = lock(ticket)
    executed = ticket.status in POST_EXECUTION or _executed_something(ticket)
    try:
        ticket = freeze(ticket, reason=reason, by=by, request=request, action=action)
    except TransitionRefused:
        log.record(
            action,
            actor=by,
            request=request,
            ticket_ref=ticket.reference,
            subject=ticket.upn,
            reason=reason,
            data={"status": ticket.status, "frozen": False},
        )
    if executed:
        contain(ticket, by=by)
        alert_security(
            ticket,
            headline="URGENT: recovery reported as not requested after execution",
            detail="The account holder says they did not ask for this recovery, which was "
            "already carried out. The pass was revoked and sessions ended; treat the account "
            "as possibly compromised.",
        )
    return ticket


@transaction.atomic
def flag_fraud(
    ticket: Ticket, *, by: Staff, reason: str, request: HttpRequest | None = None
) -> Ticket:
    """A staff member suspects fraud: the case is frozen (and contained if already executed)."""
    require(by, "tickets.work_ticket", "tickets.approve_recovery")
    if not reason.strip():
        raise TransitionRefused(_("Say why you suspect fraud."))
    return report_not_me(
        ticket,
        reason=f"Fraud suspected: {reason.strip()}"[:300],
        by=by,
        request=request,
        action=Action.FRAUD_FLAGGED,
    )


# --- What containment achieved, for the case page ---------------------------------------------


class ContainmentState(models.TextChoices):
    QUEUED = "queued", gettext_lazy("Queued")
    RUNNING = "running", gettext_lazy("Running")
    DONE = "done", gettext_lazy("Done")
    FAILED = "failed", gettext_lazy("Failed")
    NEEDS_REVIEW = "needs_review", gettext_lazy("Needs review")


_STATE_OF = {
    OpStatus.PENDING: ContainmentState.QUEUED,
    OpStatus.RUNNING: ContainmentState.RUNNING,
    OpStatus.SUCCEEDED: ContainmentState.DONE,
    OpStatus.FAILED: ContainmentState.FAILED,
    OpStatus.NEEDS_REVIEW: ContainmentState.NEEDS_REVIEW,
}

_WHAT_IT_DOES = {
    Kind.DELETE_METHODS: gettext_lazy(
        "Delete the Temporary Access Pass, so it can no longer be used to sign in"
    ),
    Kind.REVOKE_SESSIONS: gettext_lazy(
        "Revoke the account's sign-in sessions, signing out whoever used the pass"
    ),
}


@dataclass(frozen=True)
class ContainmentOutcome:
    """One containment operation as security staff need to see it."""

    what: str
    state: ContainmentState
    reason: str
    requested_at: dt.datetime
    finished_at: dt.datetime | None
    attempts: int

    @property
    def state_label(self) -> str:
        return str(self.state.label)

    @property
    def needs_action(self) -> bool:
        return self.state in (ContainmentState.FAILED, ContainmentState.NEEDS_REVIEW)


@dataclass(frozen=True)
class ContainmentSummary:
    outcomes: list[ContainmentOutcome]

    @property
    def needs_action(self) -> bool:
        """Some operation failed or needs review: a person must make sure it is done."""
        return any(o.needs_action for o in self.outcomes)

    @property
    def unfinished(self) -> bool:
        """Some operation has not succeeded yet (queued, running, failed or in review)."""
        return any(o.state != ContainmentState.DONE for o in self.outcomes)


def _outcome(action: ContainmentAction, operation: GraphOperation | None) -> ContainmentOutcome:
    if operation is None:  # the ledger row is gone: nobody can say it was done
        state, reason, finished, attempts = ContainmentState.NEEDS_REVIEW, "", None, 0
    else:
        state, reason = _STATE_OF[OpStatus(operation.status)], operation.error_message
        finished, attempts = operation.finished_at, operation.attempts
    what = _WHAT_IT_DOES.get(Kind(action.kind)) if action.kind in Kind.values else None
    return ContainmentOutcome(
        what=str(what or (operation.get_kind_display() if operation else action.kind)),
        state=state,
        reason=reason,
        requested_at=action.requested_at,
        finished_at=finished if state != ContainmentState.QUEUED else None,
        attempts=attempts,
    )


def containment_summary(ticket: Ticket) -> ContainmentSummary:
    """The containment operations of a case with their state, oldest first.

    Two queries whatever their number (the actions, then their ledger rows in bulk).
    """
    found = list(ContainmentAction.objects.filter(ticket=ticket))
    ops = GraphOperation.objects.in_bulk([a.operation_id for a in found])
    return ContainmentSummary(outcomes=[_outcome(a, ops.get(a.operation_id)) for a in found])

"""Freezing, fraud flags, "this wasn't me" and closing: stopping and undoing a recovery."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from audit import log
from audit.actions import Action
from graphops import operations
from graphops.models import GraphOperation, Kind, OpStatus
from tickets.models import (
    ContainmentAction,
    RecoveryStep,
    Status,
    TapDelivery,
    Ticket,
    Verification,
)
from tickets.workflow._core import (
    POST_EXECUTION,
    TransitionRefused,
    _alert_after_commit,
    _lock,
    _move,
    _require,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    # Who acts: the signed-in staff member (an anonymous one is refused by the guards).
    Staff = User | AnonymousUser


@transaction.atomic
def freeze(
    ticket: Ticket,
    *,
    reason: str,
    by: Any = None,
    request: HttpRequest | None = None,
    action: Action = Action.TICKET_FROZEN,
) -> Ticket:
    """Freeze an open ticket for security review ("this wasn't me", fraud flag).

    Precondition: the ticket is open and not already frozen. Side effect: the security officers
    are alerted after commit. Idempotent in effect: a second call raises TransitionRefused.
    """
    previous = ticket.status
    open_states = [s for s in Status if s not in (Status.FROZEN, Status.CLOSED, Status.RESTORED)]
    ticket = _move(
        ticket, from_=open_states, to=Status.FROZEN, flagged=True, flag_reason=reason[:300]
    )
    log.record(
        action,
        actor=by,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        reason=reason,
        data={"from": previous},
    )
    _alert_after_commit(ticket, "Ticket frozen", f"The ticket was frozen: {reason}")
    return ticket


def _executed_something(ticket: Ticket) -> bool:
    return RecoveryStep.objects.filter(ticket=ticket, operation_id__isnull=False).exists()


def _contain(ticket: Ticket, *, by: Any, revoke_sessions: bool = True) -> None:
    """Undo what a recovery gave away: delete the TAP, end sessions, stop any unshown reveal."""
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
    ticket = _lock(ticket)
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
        _contain(ticket, by=by)
        _alert_after_commit(
            ticket,
            "URGENT: recovery reported as not requested after execution",
            "The account holder says they did not ask for this recovery, which was already "
            "carried out. The pass was revoked and sessions ended; treat the account as "
            "possibly compromised.",
        )
    return ticket


@transaction.atomic
def flag_fraud(
    ticket: Ticket, *, by: Staff, reason: str, request: HttpRequest | None = None
) -> Ticket:
    """A staff member suspects fraud: the case is frozen (and contained if already executed)."""
    _require(by, "tickets.work_ticket", "tickets.approve_recovery")
    if not reason.strip():
        raise TransitionRefused(_("Say why you suspect fraud."))
    return report_not_me(
        ticket,
        reason=f"Fraud suspected: {reason.strip()}"[:300],
        by=by,
        request=request,
        action=Action.FRAUD_FLAGGED,
    )


@transaction.atomic
def close(ticket: Ticket, *, by: Staff, reason: str, request: HttpRequest | None = None) -> Ticket:
    """Close a case. Agents close open cases not yet approved; security officers also frozen
    ones (after review). The active round, if any, is superseded."""
    if ticket.status == Status.FROZEN:
        _require(by, "tickets.handle_fraud")
        allowed = [Status.FROZEN]
    else:
        _require(by, "tickets.work_ticket")
        allowed = [Status.NEW, Status.IN_VERIFICATION, Status.VERIFIED, Status.FAILED]
    if not reason.strip():
        raise TransitionRefused(_("Give a reason."))
    ticket = _move(ticket, from_=allowed, to=Status.CLOSED)
    Verification.objects.filter(ticket=ticket, active=True).update(active=False)
    log.record(
        Action.TICKET_CLOSED,
        actor=by,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        reason=reason.strip(),
    )
    return ticket


@transaction.atomic
def unfreeze(
    ticket: Ticket, *, by: Staff, reason: str, request: HttpRequest | None = None
) -> Ticket:
    """A security officer releases a frozen case back to work, saying why.

    Precondition: FROZEN; ``by`` holds tickets.handle_fraud; a reason. The case goes back to
    IN_VERIFICATION with its agent (NEW if nobody claimed it), unflagged; the round it had is
    superseded, so identity is verified afresh before anything runs again. Allowed after a
    "this wasn't me" too: the reason is on the record. Compare-and-swap: a second call raises
    TransitionRefused.
    """
    _require(by, "tickets.handle_fraud")
    if not reason.strip():
        raise TransitionRefused(_("Give a reason."))
    ticket = _lock(ticket)
    to = Status.IN_VERIFICATION if ticket.assigned_to_id else Status.NEW
    ticket = _move(ticket, from_=[Status.FROZEN], to=to, flagged=False, flag_reason="")
    Verification.objects.filter(ticket=ticket, active=True).update(active=False)
    log.record(
        Action.TICKET_UNFROZEN,
        actor=by,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        reason=reason.strip(),
        data={"to": to},
    )
    return ticket


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

"""Execution: the plan's Graph steps one after another, the case following their outcome, and a
failed step sent again."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
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
from graphops.models import GraphOperation, Kind, OpStatus
from tickets import outbox, plans
from tickets import policy as policy_module
from tickets.models import (
    MailKind,
    RecoveryStep,
    Status,
    TapDelivery,
    Ticket,
    Verification,
)
from tickets.plans import Plan
from tickets.workflow.alerts import alert_security
from tickets.workflow.containment import contain
from tickets.workflow.duties import Staff, require
from tickets.workflow.follow_up import record_follow_up
from tickets.workflow.transitions import TransitionRefused, active_verification, lock, move

logger = logging.getLogger("tickets.workflow")


def start_execution(ticket: Ticket, *, by: Any = None) -> None:
    """APPROVED → EXECUTING (compare-and-swap: whoever loses the race raises
    TransitionRefused), the plan's steps recorded and the first one queued after commit."""
    ticket = move(ticket, from_=[Status.APPROVED], to=Status.EXECUTING)
    verification = Verification.objects.get(ticket=ticket, active=True)
    for position, (kind, params) in enumerate(plans.steps_for(verification_plan(verification))):
        RecoveryStep.objects.create(
            ticket=ticket, verification=verification, position=position, kind=kind, params=params
        )
    log.record(
        Action.EXECUTION_STARTED,
        actor=by,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        data={"steps": [s.kind for s in verification.steps.all()]},
    )
    _queue_next_step(ticket, verification, by=by)


def _queue_next_step(
    ticket: Ticket, verification: Verification, *, position: int = 0, by: Any = None
) -> bool:
    """Request the step at ``position`` unless it is already requested. False when no such step.

    Steps run one after another: the next is only requested when the previous one succeeded,
    and the row lock makes a repeated outcome signal request nothing twice."""
    step = (
        RecoveryStep.objects.select_for_update()
        .filter(verification=verification, position=position)
        .first()
    )
    if step is None:
        return False
    if step.operation_id is not None:
        return True
    operation = operations.request_operation(
        step.kind,
        target_upn=ticket.upn,
        params=step.params,
        correlation=ticket.reference,
        requested_by=by,
        target_user_id=str(plans.user_facts(ticket).get("id") or ""),
    )
    RecoveryStep.objects.filter(pk=step.pk).update(operation_id=operation.pk)
    return True


@transaction.atomic
def release_cooled_off(*, now: dt.datetime | None = None) -> int:
    """Start the execution of approved cases whose cooling-off is over (the beat calls this)."""
    now = now or timezone.now()
    started = 0
    due = Ticket.objects.filter(
        status=Status.APPROVED,
        verifications__active=True,
        verifications__execute_after__lte=now,
    )
    for ticket in due.select_for_update(skip_locked=True):
        with transaction.atomic():
            start_execution(ticket)
            started += 1
    return started


def on_operation_finished(sender: object, *, operation: GraphOperation, **_: object) -> None:
    """Receiver of graphops' ``operation_finished``: the ticket follows its operations.

    Runs in the announcement's transaction (graphops/signals.py): an error propagates, so the
    outcome stays unannounced and graphops delivers it again; a repeated delivery changes
    nothing (each step below is a compare-and-swap or locked)."""
    try:
        step = RecoveryStep.objects.filter(operation_id=operation.pk).first()
        if step is not None:
            record_step_outcome(step, operation=operation)
        elif operation.kind == Kind.CHECK_NEW_METHODS and operation.correlation:
            ticket = Ticket.objects.filter(reference=operation.correlation).first()
            if ticket is not None:
                record_follow_up(ticket, operation=operation)
    except TransitionRefused as exc:
        logger.info("operation %s: %s", operation.pk, exc)


@transaction.atomic
def record_step_outcome(step: RecoveryStep, *, operation: GraphOperation) -> Ticket:
    """A step's operation finished: queue the next step, or mark the case executed or failed.

    Idempotent: a repeated signal for the same outcome changes nothing (CAS on the status,
    the next step is queued once). A TAP issued for a case frozen meanwhile is revoked.
    """
    ticket = lock(step.ticket)
    verification = step.verification
    if operation.status != OpStatus.SUCCEEDED:
        return _record_step_failure(ticket, step, operation)
    if step.kind == Kind.ISSUE_TAP:
        _prepare_delivery(ticket, verification, operation)
    if ticket.status not in (Status.EXECUTING, Status.FAILED) or not verification.active:
        return ticket
    if ticket.status == Status.FAILED:  # a retried step succeeded
        if failed_operation(ticket) is not None:
            return ticket  # another step failed since: this outcome was delivered before
        ticket = move(ticket, from_=[Status.FAILED], to=Status.EXECUTING)
    if _queue_next_step(ticket, verification, position=step.position + 1):
        return ticket
    if verification.steps.count() != _succeeded(verification):
        return ticket
    return _mark_executed(ticket, verification)


def _succeeded(verification: Verification) -> int:
    ids = [i for i in verification.steps.values_list("operation_id", flat=True) if i]
    return GraphOperation.objects.filter(pk__in=ids, status=OpStatus.SUCCEEDED).count()


def _prepare_delivery(ticket: Ticket, verification: Verification, op: GraphOperation) -> None:
    window = policy_module.current().tap_reveal_window
    until = timezone.now() + window
    expires = op.result.get("expires_at")
    if expires:
        until = min(until, dt.datetime.fromisoformat(expires))
    frozen_meanwhile = (
        ticket.status not in (Status.EXECUTING, Status.FAILED) or not verification.active
    )
    if frozen_meanwhile:
        until = timezone.now()  # never shown; the containment deletes it in Graph
    _delivery, created = TapDelivery.objects.get_or_create(
        verification=verification,
        defaults={
            "ticket": ticket,
            "operation_id": op.pk,
            "channel": verification.tap_channel,
            "available_until": until,
        },
    )
    if created and frozen_meanwhile:
        contain(ticket, by=None, revoke_sessions=False)


def _record_step_failure(ticket: Ticket, step: RecoveryStep, op: GraphOperation) -> Ticket:
    if ticket.status != Status.EXECUTING:
        return ticket
    ticket = move(ticket, from_=[Status.EXECUTING], to=Status.FAILED)
    log.record(
        Action.EXECUTION_FAILED,
        actor=log.SYSTEM,
        on_behalf_of=op.requested_by,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        reason=op.error_message[:500],
        outcome="failure",
        data={
            "operation_id": str(op.pk),
            "kind": op.kind,
            "status": op.status,
            "error_code": op.error_code,
            "retryable": op.retryable,
        },
    )
    if op.kind == Kind.ISSUE_TAP and op.status == OpStatus.NEEDS_REVIEW:
        alert_security(
            ticket,
            headline="TAP issuance needs review",
            detail="A Temporary Access Pass request ended in an unknown state.",
        )
    return ticket


def _mark_executed(ticket: Ticket, verification: Verification) -> Ticket:
    ticket = move(ticket, from_=[Status.EXECUTING], to=Status.EXECUTED)
    now = timezone.now()
    Verification.objects.filter(pk=verification.pk).update(executed_at=now, last_check_at=now)
    log.record(
        Action.TICKET_EXECUTED,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        data={
            "steps": list(verification.steps.values_list("kind", flat=True)),
            "privileged": verification.privileged,
        },
    )
    if verification.issue_tap and verification.privileged:
        alert_security(
            ticket,
            headline="TAP issued to a privileged account",
            detail="A Temporary Access Pass was issued to a privileged account.",
        )
    # The account's own mailbox and its manager learn the recovery was done (never the TAP).
    outbox.owe(ticket, kind=MailKind.EXECUTED, language=ticket.language)
    return ticket


def _retriable(ticket: Ticket, *, by: Any) -> GraphOperation:
    """The failed operation ``by`` may send again now; raises PermissionDenied (role) or
    TransitionRefused (nothing to retry) otherwise."""
    require(by, "tickets.work_ticket", "tickets.approve_recovery")
    require(by, "graphops.retry_graphoperation")
    operation = failed_operation(ticket)
    if ticket.status != Status.FAILED or operation is None:
        raise TransitionRefused(_("Nothing to retry on this case."))
    if operation.status != OpStatus.NEEDS_REVIEW and not operation.retryable:
        raise TransitionRefused(_("This failure is permanent: the step cannot be retried."))
    return operation


def may_retry(ticket: Ticket, user: Any) -> bool:
    """Whether ``user`` may send the case's failed step again now: FAILED, the failure
    retryable (or waiting for a person's review), and a role that works cases and retries Graph
    operations. The question the case page asks; ``retry_failed_step`` asks it itself."""
    try:
        _retriable(ticket, by=user)
    except (TransitionRefused, PermissionDenied):
        return False
    return True


@transaction.atomic
def retry_failed_step(ticket: Ticket, *, by: Staff, request: HttpRequest | None = None) -> Ticket:
    """Send the failed step back to Graph. Precondition: ``may_retry(ticket, by)``. The ticket
    goes back to EXECUTING (compare-and-swap), the operation to PENDING (graphops)."""
    ticket = lock(ticket)
    operation = _retriable(ticket, by=by)
    try:
        operations.retry(operation, by=cast("User", by))
    except operations.RetryRefused as exc:
        raise TransitionRefused(str(exc)) from None
    ticket = move(ticket, from_=[Status.FAILED], to=Status.EXECUTING)
    log.record(
        Action.TICKET_RETRIED,
        actor=by,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        data={"operation_id": str(operation.pk), "kind": operation.kind},
    )
    return ticket


def failed_operation(ticket: Ticket) -> GraphOperation | None:
    """The current round's step that failed or waits for a person's review, if any."""
    verification = active_verification(ticket)
    if verification is None:
        return None
    ids = verification.steps.exclude(operation_id__isnull=True).values_list("operation_id")
    return (
        GraphOperation.objects.filter(pk__in=ids)
        .filter(status__in=[OpStatus.FAILED, OpStatus.NEEDS_REVIEW])
        .first()
    )


def verification_plan(verification: Verification) -> Plan:
    values = {f.name: getattr(verification, f.name) for f in dataclasses.fields(Plan)}
    values["method_ids_to_remove"] = tuple(values["method_ids_to_remove"])
    return Plan(**values)

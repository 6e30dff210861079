"""Execution: Graph steps one after another, the case following their outcome, follow-up."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from audit import log
from audit.actions import Action
from graphops import operations
from graphops.models import GraphOperation, Kind, OpStatus
from tickets import execution
from tickets import policy as policy_module
from tickets.execution import Plan
from tickets.models import (
    RecoveryStep,
    Status,
    TapDelivery,
    Ticket,
    Verification,
)
from tickets.workflow._core import (
    TransitionRefused,
    _alert_after_commit,
    _lock,
    _mail,
    _move,
    _require,
    active_verification,
)
from tickets.workflow.containment import _contain

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    # Who acts: the signed-in staff member (an anonymous one is refused by the guards).
    Staff = User | AnonymousUser

logger = logging.getLogger("tickets.workflow")


def _start_execution(ticket: Ticket, *, by: Any = None) -> None:
    """APPROVED → EXECUTING (CAS: whoever loses the race does nothing); queue the first step."""
    ticket = _move(ticket, from_=[Status.APPROVED], to=Status.EXECUTING)
    verification = Verification.objects.get(ticket=ticket, active=True)
    for position, (kind, params) in enumerate(execution.steps_for(verification_plan(verification))):
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
        target_user_id=str(execution.user_facts(ticket).get("id") or ""),
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
            _start_execution(ticket)
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
    ticket = _lock(step.ticket)
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
        ticket = _move(ticket, from_=[Status.FAILED], to=Status.EXECUTING)
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
    contain = ticket.status not in (Status.EXECUTING, Status.FAILED) or not verification.active
    if contain:
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
    if created and contain:
        _contain(ticket, by=None, revoke_sessions=False)


def _record_step_failure(ticket: Ticket, step: RecoveryStep, op: GraphOperation) -> Ticket:
    if ticket.status != Status.EXECUTING:
        return ticket
    ticket = _move(ticket, from_=[Status.EXECUTING], to=Status.FAILED)
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
        _alert_after_commit(
            ticket,
            "TAP issuance needs review",
            "A Temporary Access Pass request ended in an unknown state.",
        )
    return ticket


def _mark_executed(ticket: Ticket, verification: Verification) -> Ticket:
    ticket = _move(ticket, from_=[Status.EXECUTING], to=Status.EXECUTED)
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
        _alert_after_commit(
            ticket,
            "TAP issued to a privileged account",
            "A Temporary Access Pass was issued to a privileged account.",
        )
    _notify_executed(ticket)
    return ticket


def _notify_executed(ticket: Ticket) -> None:
    """Tell the account's own mailbox and its manager: recovery done (never the TAP)."""
    recipients = [r for r in (ticket.upn, ticket.manager_upn) if r]
    language = ticket.language
    context = {"ticket": ticket, "site_url": settings.SITE_URL}

    def send() -> None:
        with translation.override(language):
            _mail(recipients, "tickets/staff/executed_mail", context)

    transaction.on_commit(send)


@transaction.atomic
def retry_failed_step(ticket: Ticket, *, by: Staff, request: HttpRequest | None = None) -> Ticket:
    """Send the failed step back to Graph. Precondition: FAILED, the failed operation retryable
    (or waiting for a person's review); ``by`` may work or approve tickets and retry Graph
    operations. The ticket goes back to EXECUTING (CAS)."""
    _require(by, "tickets.work_ticket", "tickets.approve_recovery")
    ticket = _lock(ticket)
    operation = failed_operation(ticket)
    if ticket.status != Status.FAILED or operation is None:
        raise TransitionRefused(_("Nothing to retry on this case."))
    try:
        operations.retry(operation, by=cast("User", by))
    except operations.RetryRefused as exc:
        raise TransitionRefused(str(exc)) from None
    ticket = _move(ticket, from_=[Status.FAILED], to=Status.EXECUTING)
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
    verification = active_verification(ticket)
    if verification is None:
        return None
    ids = verification.steps.exclude(operation_id__isnull=True).values_list("operation_id")
    return (
        GraphOperation.objects.filter(pk__in=ids)
        .filter(status__in=[OpStatus.FAILED, OpStatus.NEEDS_REVIEW])
        .first()
    )


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
    ticket = _lock(ticket)
    verification = active_verification(ticket)
    if ticket.status != Status.EXECUTED or verification is None:
        return ticket
    if operation.status != OpStatus.SUCCEEDED:
        return ticket
    result = operation.result or {}
    if result.get("has_new_method"):
        ticket = _move(ticket, from_=[Status.EXECUTED], to=Status.RESTORED)
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
    ticket = _move(
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


def verification_plan(verification: Verification) -> Plan:
    values = {f.name: getattr(verification, f.name) for f in dataclasses.fields(Plan)}
    values["method_ids_to_remove"] = tuple(values["method_ids_to_remove"])
    return Plan(**values)

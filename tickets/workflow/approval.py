"""The two-person rule: approvals, and the release of the execution when all gates pass."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from audit import log
from audit.actions import Action
from tickets import policy as policy_module
from tickets.models import (
    Approval,
    ApprovalRole,
    ManagerDecision,
    Status,
    Ticket,
    Verification,
)
from tickets.workflow.duties import Staff, audits_refusals, check_not_party, refuse, require
from tickets.workflow.execution import start_execution
from tickets.workflow.transitions import TransitionRefused, active_verification, lock, move


def _approval_role(verification: Verification, by: Any) -> str:
    given = set(verification.approvals.values_list("role", flat=True))
    if (
        verification.privileged
        and ApprovalRole.SECURITY not in given
        and by.has_perm("tickets.approve_privileged")
    ):
        return ApprovalRole.SECURITY
    if ApprovalRole.APPROVER not in given:
        return ApprovalRole.APPROVER
    raise TransitionRefused(_("This case already has the approvals it needs from your role."))


def _check_approver(ticket: Ticket, verification: Verification, *, by: Any) -> None:
    if by.pk == verification.verified_by_id:
        refuse(
            ticket,
            rule="verifier_approving",
            message=_("You verified this case: a second person must approve it."),
        )
    check_not_party(ticket, by=by)
    confirmation = getattr(verification, "manager_confirmation", None)
    if confirmation is not None and confirmation.decided_by_id == by.pk:
        refuse(
            ticket,
            rule="confirmer_approving",
            message=_("You confirmed this case for the manager: someone else must approve."),
        )
    if verification.approvals.filter(approver=by).exists():
        refuse(
            ticket,
            rule="approving_twice",
            message=_("You already approved this case."),
        )


@audits_refusals
@transaction.atomic
def approve(
    ticket: Ticket, *, by: Staff, note: str = "", request: HttpRequest | None = None
) -> Approval:
    """Second-person approval of the active round.

    Precondition: VERIFIED; ``by`` holds approve_recovery and is neither the verifier, the
    account holder, the requester nor the manager stand-in. Privileged accounts also need a
    security officer's approval. Locking: the ticket row is locked, so concurrent approvals
    are taken one at a time and exactly one of them — the one completing the set — releases the
    execution (VERIFIED → APPROVED by compare-and-swap); the database refuses a second approval
    for the same role or person and an approver who verified.
    """
    require(by, "tickets.approve_recovery")
    ticket = lock(ticket)
    verification = active_verification(ticket)
    if ticket.status != Status.VERIFIED or verification is None:
        raise TransitionRefused(_("This case is not waiting for approval."))
    _check_approver(ticket, verification, by=by)
    role = _approval_role(verification, by)
    try:
        with transaction.atomic():
            approval = Approval.objects.create(
                ticket=ticket,
                verification=verification,
                role=role,
                approver=cast("User", by),
                verifier_id=verification.verified_by_id,
                note=note.strip(),
                created_at=timezone.now(),
            )
    except IntegrityError:
        raise TransitionRefused(_("This approval was already given.")) from None
    log.record(
        Action.TICKET_APPROVED,
        actor=by,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        reason=note.strip(),
        data={"role": role, "privileged": verification.privileged},
    )
    release_if_ready(ticket, by=by, request=request)
    return approval


def missing_for_release(verification: Verification) -> list[str]:
    """What the round still waits for: "manager", "approver", "security" (in that order)."""
    missing = []
    confirmation = getattr(verification, "manager_confirmation", None)
    if confirmation is None or confirmation.decision != ManagerDecision.CONFIRMED:
        missing.append("manager")
    roles = {a.role for a in verification.approvals.all()}
    if ApprovalRole.APPROVER not in roles:
        missing.append("approver")
    if verification.privileged and ApprovalRole.SECURITY not in roles:
        missing.append("security")
    return missing


def release_if_ready(ticket: Ticket, *, by: Any, request: Any = None) -> None:
    """With every gate of the active round passed (see ``missing_for_release``): VERIFIED →
    APPROVED (compare-and-swap), and the execution started now or, for a privileged account,
    once the cooling-off is over (the beat: ``release_cooled_off``). Call with the ticket
    locked, in the transaction of the step that may have completed the set."""
    verification = Verification.objects.get(ticket=ticket, active=True)
    if missing_for_release(verification):
        return
    now = timezone.now()
    not_before = now
    if verification.privileged:
        not_before = max(now, verification.verified_at + policy_module.current().cooling_off)
    ticket = move(ticket, from_=[Status.VERIFIED], to=Status.APPROVED)
    Verification.objects.filter(pk=verification.pk).update(
        approved_at=now, execute_after=not_before
    )
    log.record(
        Action.TICKET_RELEASED,
        actor=by,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        data={"execute_after": not_before.isoformat(), "privileged": verification.privileged},
    )
    if not_before <= now:
        start_execution(ticket, by=by)

"""Identity verification: what the verifier saw and the plan they propose."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, cast

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from audit import log
from audit.actions import Action
from tickets import execution
from tickets import policy as policy_module
from tickets.execution import Plan
from tickets.models import (
    Status,
    Ticket,
    Verification,
    VerificationMethod,
)
from tickets.workflow._core import (
    TransitionRefused,
    _audits_refusals,
    _check_not_party,
    _lock,
    _move,
    _require,
    is_privileged,
)
from tickets.workflow.confirmation import _send_manager_link

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    # Who acts: the signed-in staff member (an anonymous one is refused by the guards).
    Staff = User | AnonymousUser


@dataclasses.dataclass(frozen=True)
class Evidence:
    """What the verifier saw: the method, their notes, the prompts shown, the number called."""

    method: str
    notes: str
    liveness_prompts: tuple[str, ...] = ()
    callback_number: str = ""


def _evidence_problem(ticket: Ticket, evidence: Evidence) -> str:
    pol = policy_module.current()
    if evidence.method not in pol.verification_methods:
        return _("This verification method is not accepted by the policy.")
    if len(evidence.notes.strip()) < 10:
        return _("Describe what you checked (at least a sentence).")
    if evidence.method == VerificationMethod.VIDEO_ID and not evidence.liveness_prompts:
        return _("A video verification needs the liveness prompts the page proposed.")
    if evidence.method == VerificationMethod.TRUSTED_CALLBACK and (
        evidence.callback_number not in execution.trusted_phone_numbers(ticket)
    ):
        return _("Call back only a number from a trusted record, never one from the request.")
    if evidence.method == VerificationMethod.MANAGER_VOUCH and not ticket.manager_upn:
        return _("There is no manager on record to vouch.")
    return ""


@_audits_refusals
@transaction.atomic
def verify_identity(
    ticket: Ticket,
    *,
    by: Staff,
    evidence: Evidence,
    plan: Plan,
    request: HttpRequest | None = None,
) -> Verification:
    """The assigned agent records how they verified the requester and proposes the plan.

    Precondition: IN_VERIFICATION, assigned to ``by``, who may verify identities and is not the
    account holder or requester; the evidence fits an accepted method; the plan fits the policy
    and the tenant's TAP policy. Side effects (after commit): the manager of record — or, with
    none, the security officers — get the single-use confirmation link.
    """
    _require(by, "tickets.verify_identity")
    ticket = _lock(ticket)
    if ticket.assigned_to_id != by.pk:
        raise TransitionRefused(_("Claim the ticket before verifying the requester."))
    _check_not_party(ticket, by=by, request=request)
    problem = _evidence_problem(ticket, evidence)
    problems = [problem] if problem else execution.plan_problems(plan, ticket)
    if problems:
        raise TransitionRefused(" ".join(problems))
    now = timezone.now()
    ticket = _move(ticket, from_=[Status.IN_VERIFICATION], to=Status.VERIFIED)
    verification = Verification.objects.create(
        ticket=ticket,
        verified_by=cast("User", by),
        verified_at=now,
        method=evidence.method,
        evidence=evidence.notes.strip(),
        liveness_prompts=list(evidence.liveness_prompts),
        callback_number=evidence.callback_number,
        privileged=is_privileged(ticket),
        **{f.name: getattr(plan, f.name) for f in dataclasses.fields(plan)},
    )
    log.record(
        Action.IDENTITY_VERIFIED,
        actor=by,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        reason=evidence.notes.strip(),
        data={
            "method": evidence.method,
            "privileged": verification.privileged,
            "plan": _plan_summary(plan),
        },
    )
    _send_manager_link(ticket, verification)
    return verification


def _plan_summary(plan: Plan) -> dict[str, Any]:
    summary = dataclasses.asdict(plan)
    summary["method_ids_to_remove"] = len(plan.method_ids_to_remove)
    return summary

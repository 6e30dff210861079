"""Identity verification: what the verifier saw and the plan they propose."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from audit import log
from audit.actions import Action
from tickets import plans
from tickets import policy as policy_module
from tickets.models import (
    Status,
    Ticket,
    Verification,
    VerificationMethod,
)
from tickets.plans import Plan
from tickets.workflow.confirmation import request_manager_confirmation
from tickets.workflow.duties import Staff, audits_refusals, check_not_party, require
from tickets.workflow.transitions import TransitionRefused, is_privileged, lock, move


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
        evidence.callback_number not in plans.trusted_phone_numbers(ticket)
    ):
        return _("Call back only a number from a trusted record, never one from the request.")
    if evidence.method == VerificationMethod.MANAGER_VOUCH and not ticket.manager_upn:
        return _("There is no manager on record to vouch.")
    return ""


@audits_refusals
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
    and the tenant's TAP policy. Side effect: the manager of record — or, with none, the
    security officers — are owed the single-use confirmation link (sent by the worker).
    """
    require(by, "tickets.verify_identity")
    ticket = lock(ticket)
    if ticket.assigned_to_id != by.pk:
        raise TransitionRefused(_("Claim the ticket before verifying the requester."))
    check_not_party(ticket, by=by)
    problem = _evidence_problem(ticket, evidence)
    problems = [problem] if problem else plans.plan_problems(plan, ticket)
    if problems:
        raise TransitionRefused(" ".join(problems))
    now = timezone.now()
    ticket = move(ticket, from_=[Status.IN_VERIFICATION], to=Status.VERIFIED)
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
    request_manager_confirmation(ticket, verification)
    return verification


def _plan_summary(plan: Plan) -> dict[str, Any]:
    summary = dataclasses.asdict(plan)
    summary["method_ids_to_remove"] = len(plan.method_ids_to_remove)
    return summary

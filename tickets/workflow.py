"""The recovery case's state machine: the only writer of Ticket.status.

One public function per transition. Each: guard (state, permission, separation of duties),
compare-and-swap update, an audit event in the same transaction, side effects only after commit.

The path of a case: NEW —claim→ IN_VERIFICATION —verify_identity→ VERIFIED —(manager confirms,
approvals)→ APPROVED —(cooling-off over)→ EXECUTING —(Graph steps)→ EXECUTED —(follow-up)→
RESTORED. Anything open may be FROZEN (fraud flag, "this wasn't me", manager declines).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.crypto import constant_time_compare
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from audit import log
from graphops import operations
from graphops.models import GraphOperation, Kind, OpStatus
from tickets import execution
from tickets import policy as policy_module
from tickets.execution import Plan
from tickets.models import (
    Approval,
    ApprovalRole,
    ManagerConfirmation,
    ManagerDecision,
    RecoveryStep,
    Status,
    TapChannel,
    TapDelivery,
    Ticket,
    Verification,
    VerificationMethod,
)
from tickets.roles import Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    # Who acts: the signed-in staff member (an anonymous one is refused by the guards).
    Staff = User | AnonymousUser

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

PRE_EXECUTION = (Status.NEW, Status.IN_VERIFICATION, Status.VERIFIED, Status.APPROVED)
POST_EXECUTION = (Status.EXECUTING, Status.EXECUTED, Status.FAILED, Status.RESTORED)
_MANAGER_LINK_SALT = "tickets.workflow.manager_confirmation"


class TransitionRefused(Exception):
    """The ticket is not in a state (or the person not in a position) to make this move."""


class DutyConflict(TransitionRefused):
    """A separation-of-duties rule forbids this person this step of this case."""

    def __init__(self, message: str, *, rule: str, ticket: Ticket) -> None:
        super().__init__(message)
        self.rule = rule
        self.ticket = ticket


def _audits_refusals(function: Callable[P, R]) -> Callable[P, R]:
    """Record a separation-of-duties refusal (outcome "denied") after the refused step's
    transaction has rolled back, so the record survives the refusal."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except DutyConflict as exc:
            with transaction.atomic():
                log.record(
                    "ticket.sod_refused",
                    actor=kwargs.get("by"),  # type: ignore[arg-type]
                    request=kwargs.get("request"),  # type: ignore[arg-type]
                    ticket_ref=exc.ticket.reference,
                    outcome="denied",
                    data={"rule": exc.rule},
                )
            raise

    return wrapper


class LinkInvalid(Exception):
    """A manager link that is forged, expired, superseded or already used."""


def _move(ticket: Ticket, *, from_: Iterable[str], to: str, **fields: Any) -> Ticket:
    """Compare-and-swap: only moves the ticket if nobody moved it meanwhile."""
    allowed = list(from_)
    updated = Ticket.objects.filter(pk=ticket.pk, status__in=allowed).update(
        status=to, updated_at=timezone.now(), **fields
    )
    if updated != 1:
        ticket.refresh_from_db()
        raise TransitionRefused(
            _("Ticket %(ref)s is “%(status)s” now: someone moved it meanwhile; reload the page.")
            % {"ref": ticket.reference, "status": ticket.get_status_display()}
        )
    ticket.refresh_from_db()
    return ticket


def _lock(ticket: Ticket) -> Ticket:
    """Lock the ticket row for this transaction: steps of one case are taken one at a time."""
    return Ticket.objects.select_for_update().get(pk=ticket.pk)


def _require(user: Any, *perms: str) -> None:
    if not getattr(user, "is_authenticated", False) or not any(user.has_perm(p) for p in perms):
        raise PermissionDenied("Your role does not allow this step.")


# --- Who is who --------------------------------------------------------------------------------


def identities_of(user: Any, *, verified_only: bool = False) -> set[str]:
    """The lower-cased names and addresses that identify ``user`` (account, e-mail, Entra UPN)."""
    from allauth.account.models import EmailAddress
    from allauth.socialaccount.models import SocialAccount

    names = {user.get_username().lower(), (user.email or "").lower()}
    emails = EmailAddress.objects.filter(user=user)
    if verified_only:
        emails = emails.filter(verified=True)
    names |= {e.lower() for e in emails.values_list("email", flat=True)}
    for extra in SocialAccount.objects.filter(user=user).values_list("extra_data", flat=True):
        for key in ("userPrincipalName", "mail", "email", "preferred_username"):
            if isinstance(extra, dict) and extra.get(key):
                names.add(str(extra[key]).lower())
    names.discard("")
    return names


def is_account_holder(user: Any, ticket: Ticket) -> bool:
    return ticket.upn.lower() in identities_of(user)


def is_requester(user: Any, ticket: Ticket) -> bool:
    """The person who asked claims to be the holder and gave an alternate contact."""
    alternate = (ticket.alternate_email or "").lower()
    return is_account_holder(user, ticket) or (bool(alternate) and alternate in identities_of(user))


def _refuse(ticket: Ticket, *, by: Any, rule: str, message: str, request: Any) -> None:
    raise DutyConflict(message, rule=rule, ticket=ticket)


def _check_not_party(ticket: Ticket, *, by: Any, request: Any) -> None:
    if is_account_holder(by, ticket):
        _refuse(
            ticket,
            by=by,
            rule="account_holder",
            message=_("You cannot take part in the recovery of your own account."),
            request=request,
        )
    if is_requester(by, ticket):
        _refuse(
            ticket,
            by=by,
            rule="requester",
            message=_("You asked for this recovery: someone else must handle it."),
            request=request,
        )


def active_verification(ticket: Ticket) -> Verification | None:
    return ticket.verifications.filter(active=True).first()


def is_privileged(ticket: Ticket) -> bool:
    if ticket.is_privileged is None:
        return policy_module.current().treat_unknown_as_privileged
    return bool(ticket.is_privileged)


# --- Security alerts ---------------------------------------------------------------------------


def security_officer_emails() -> list[str]:
    from django.contrib.auth import get_user_model

    return list(
        get_user_model()
        .objects.filter(groups__name=Role.SECURITY.value, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )


def alert_security(subject: str, body: str) -> None:
    """Mail every security officer (after commit, by the caller)."""
    recipients = security_officer_emails()
    if recipients:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=True)


def _alert_after_commit(ticket: Ticket, headline: str, detail: str) -> None:
    severity = "HIGH" if is_privileged(ticket) else "normal"
    reference = ticket.reference
    transaction.on_commit(
        lambda: alert_security(
            f"[Recovery Portal] [{severity}] {headline}: {reference}",
            f"{detail}\n\nTicket {reference}: {settings.SITE_URL}/staff/",
        )
    )


# --- Queue handling ----------------------------------------------------------------------------


@_audits_refusals
@transaction.atomic
def claim(ticket: Ticket, *, by: Staff, request: HttpRequest | None = None) -> Ticket:
    """The agent takes the case: NEW → IN_VERIFICATION, assigned to them.

    Precondition: ``by`` may work tickets and is not the account holder or requester. A case
    already in verification is re-assigned to ``by`` (an agent taking over). Compare-and-swap.
    """
    _require(by, "tickets.work_ticket")
    _check_not_party(ticket, by=by, request=request)
    previous = ticket.assigned_to_id
    if ticket.status == Status.NEW:
        ticket = _move(ticket, from_=[Status.NEW], to=Status.IN_VERIFICATION, assigned_to=by)
    else:
        ticket = _move(
            ticket, from_=[Status.IN_VERIFICATION], to=Status.IN_VERIFICATION, assigned_to=by
        )
    log.record(
        "ticket.claimed",
        actor=by,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        data={"previous_assignee_id": previous},
    )
    return ticket


@_audits_refusals
@transaction.atomic
def assign(ticket: Ticket, *, to: User, by: Staff, request: HttpRequest | None = None) -> Ticket:
    """Hand an open case to another agent. Precondition: both may work tickets."""
    _require(by, "tickets.work_ticket")
    if not to.is_active or not to.has_perm("tickets.work_ticket"):
        raise TransitionRefused(_("That person cannot work on recovery tickets."))
    _check_not_party(ticket, by=to, request=request)
    if ticket.status not in (Status.NEW, Status.IN_VERIFICATION, Status.VERIFIED):
        raise TransitionRefused(_("Only a case not yet approved can change hands."))
    ticket = _move(ticket, from_=[ticket.status], to=ticket.status, assigned_to=to)
    log.record(
        "ticket.assigned",
        actor=by,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        data={"assignee_id": to.pk},
    )
    return ticket


# --- Identity verification ---------------------------------------------------------------------


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
        "ticket.identity_verified",
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


def verification_plan(verification: Verification) -> Plan:
    values = {f.name: getattr(verification, f.name) for f in dataclasses.fields(Plan)}
    values["method_ids_to_remove"] = tuple(values["method_ids_to_remove"])
    return Plan(**values)


# --- Manager confirmation ----------------------------------------------------------------------


def _token_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def _send_manager_link(ticket: Ticket, verification: Verification) -> None:
    pol = policy_module.current()
    nonce = secrets.token_urlsafe(32)
    now = timezone.now()
    confirmation = ManagerConfirmation.objects.create(
        ticket=ticket,
        verification=verification,
        manager_upn=ticket.manager_upn.lower(),
        routed_to_security=not ticket.manager_upn,
        token_hash=_token_hash(nonce),
        created_at=now,
        expires_at=now + pol.manager_link_lifetime,
    )
    token = signing.dumps({"c": confirmation.pk, "n": nonce}, salt=_MANAGER_LINK_SALT)
    link = f"{settings.SITE_URL}{reverse('manager_confirm')}?{urlencode({'t': token})}"
    recipients = (
        security_officer_emails() if confirmation.routed_to_security else [ticket.manager_upn]
    )
    context = {
        "ticket": ticket,
        "link": link,
        "expires_at": confirmation.expires_at,
        "routed_to_security": confirmation.routed_to_security,
    }
    log.record(
        "ticket.manager_link_sent",
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        data={"routed_to_security": confirmation.routed_to_security},
        personal={"recipients": recipients},
    )
    transaction.on_commit(lambda: _mail(recipients, "tickets/manager/link_mail", context))


def _mail(recipients: list[str], template: str, context: dict[str, Any]) -> None:
    if not recipients:
        return
    subject = render_to_string(f"{template}_subject.txt", context).strip()
    body = render_to_string(f"{template}.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=True)


def open_manager_link(token: str) -> ManagerConfirmation:
    """The pending confirmation a link stands for; LinkInvalid for forged, expired or used."""
    pol = policy_module.current()
    try:
        payload = signing.loads(token, salt=_MANAGER_LINK_SALT, max_age=pol.manager_link_lifetime)
        pk, nonce = int(payload["c"]), str(payload["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise LinkInvalid from None
    confirmation = (
        ManagerConfirmation.objects.select_related("ticket", "verification")
        .filter(pk=pk, decision=ManagerDecision.PENDING, expires_at__gt=timezone.now())
        .first()
    )
    if confirmation is None or not constant_time_compare(
        confirmation.token_hash, _token_hash(nonce)
    ):
        raise LinkInvalid
    if not confirmation.verification.active or confirmation.ticket.status != Status.VERIFIED:
        raise LinkInvalid
    return confirmation


def _check_manager_identity(confirmation: ManagerConfirmation, *, by: Any, request: Any) -> None:
    ticket = confirmation.ticket
    if confirmation.routed_to_security:
        if not by.has_perm("tickets.approve_privileged"):
            raise PermissionDenied("Only a security officer may confirm this case.")
    elif confirmation.manager_upn not in identities_of(by, verified_only=True):
        _refuse(
            ticket,
            by=by,
            rule="not_manager_of_record",
            message=_("You are signed in as someone other than the manager of record."),
            request=request,
        )
    if by.pk == confirmation.verification.verified_by_id:
        _refuse(
            ticket,
            by=by,
            rule="verifier_confirming",
            message=_("The verifier cannot also confirm."),
            request=request,
        )
    _check_not_party(ticket, by=by, request=request)


def may_decide_as_manager(confirmation: ManagerConfirmation, user: Any) -> bool:
    """Whether ``user`` is the person this confirmation waits for (for the page; the decision
    itself checks again)."""
    try:
        _check_manager_identity(confirmation, by=user, request=None)
    except (DutyConflict, PermissionDenied):
        return False
    return True


@_audits_refusals
@transaction.atomic
def decide_as_manager(
    token: str,
    *,
    by: Staff,
    confirm: bool,
    reason: str,
    request: HttpRequest | None = None,
) -> ManagerConfirmation:
    """The manager of record (or the security officer standing in) confirms or declines.

    Precondition: the link is valid and unused, the ticket VERIFIED, ``by`` is the manager of
    record (e-mail/UPN compared case-insensitively) and not the verifier, holder or requester.
    The link is consumed by compare-and-swap (single use). Declining freezes the case and alerts
    security; confirming may release the execution (see ``approve``).
    """
    confirmation = open_manager_link(token)
    ticket = _lock(confirmation.ticket)
    _check_manager_identity(confirmation, by=by, request=request)
    if not reason.strip():
        raise TransitionRefused(_("Give a reason."))
    decision = ManagerDecision.CONFIRMED if confirm else ManagerDecision.DECLINED
    used = ManagerConfirmation.objects.filter(
        pk=confirmation.pk, decision=ManagerDecision.PENDING
    ).update(decision=decision, decided_by=by, decided_at=timezone.now(), reason=reason.strip())
    if used != 1:
        raise LinkInvalid
    confirmation.refresh_from_db()
    log.record(
        "ticket.manager_confirmed" if confirm else "ticket.manager_declined",
        actor=by,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        reason=reason.strip(),
        data={"routed_to_security": confirmation.routed_to_security},
    )
    if confirm:
        _release_if_ready(ticket, by=by, request=request)
    else:
        freeze(ticket, reason=f"Manager declined: {reason.strip()}"[:300], by=by, request=request)
    return confirmation


# --- Approval (the two-person rule) ------------------------------------------------------------


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


def _check_approver(ticket: Ticket, verification: Verification, *, by: Any, request: Any) -> None:
    if by.pk == verification.verified_by_id:
        _refuse(
            ticket,
            by=by,
            rule="verifier_approving",
            message=_("You verified this case: a second person must approve it."),
            request=request,
        )
    _check_not_party(ticket, by=by, request=request)
    confirmation = getattr(verification, "manager_confirmation", None)
    if confirmation is not None and confirmation.decided_by_id == by.pk:
        _refuse(
            ticket,
            by=by,
            rule="confirmer_approving",
            message=_("You confirmed this case for the manager: someone else must approve."),
            request=request,
        )
    if verification.approvals.filter(approver=by).exists():
        _refuse(
            ticket,
            by=by,
            rule="approving_twice",
            message=_("You already approved this case."),
            request=request,
        )


@_audits_refusals
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
    _require(by, "tickets.approve_recovery")
    ticket = _lock(ticket)
    verification = active_verification(ticket)
    if ticket.status != Status.VERIFIED or verification is None:
        raise TransitionRefused(_("This case is not waiting for approval."))
    _check_approver(ticket, verification, by=by, request=request)
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
        "ticket.approved",
        actor=by,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        reason=note.strip(),
        data={"role": role, "privileged": verification.privileged},
    )
    _release_if_ready(ticket, by=by, request=request)
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


def _release_if_ready(ticket: Ticket, *, by: Any, request: Any) -> None:
    """With every gate passed, VERIFIED → APPROVED (CAS) and start now or after the cooling-off."""
    verification = Verification.objects.get(ticket=ticket, active=True)
    if missing_for_release(verification):
        return
    now = timezone.now()
    not_before = now
    if verification.privileged:
        not_before = max(now, verification.verified_at + policy_module.current().cooling_off)
    ticket = _move(ticket, from_=[Status.VERIFIED], to=Status.APPROVED)
    Verification.objects.filter(pk=verification.pk).update(
        approved_at=now, execute_after=not_before
    )
    log.record(
        "ticket.released",
        actor=by,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        data={"execute_after": not_before.isoformat(), "privileged": verification.privileged},
    )
    if not_before <= now:
        _start_execution(ticket, by=by)


# --- Execution ---------------------------------------------------------------------------------


def _start_execution(ticket: Ticket, *, by: Any = None) -> None:
    """APPROVED → EXECUTING (CAS: whoever loses the race does nothing); queue the first step."""
    ticket = _move(ticket, from_=[Status.APPROVED], to=Status.EXECUTING)
    verification = Verification.objects.get(ticket=ticket, active=True)
    for position, (kind, params) in enumerate(execution.steps_for(verification_plan(verification))):
        RecoveryStep.objects.create(
            ticket=ticket, verification=verification, position=position, kind=kind, params=params
        )
    log.record(
        "ticket.execution_started",
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
    """Receiver of graphops' ``operation_finished``: the ticket follows its operations."""
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
        "ticket.execution_failed",
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
        "ticket.executed",
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
        "ticket.retried",
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


# --- Once-only TAP delivery --------------------------------------------------------------------


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
        "ticket.tap_revealed",
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


# --- Follow-up ---------------------------------------------------------------------------------


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
            "ticket.restored",
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
        "ticket.reopened",
        actor=by,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        reason=reason,
    )
    return ticket


# --- Freezing, fraud and "this wasn't me" ------------------------------------------------------


@transaction.atomic
def freeze(
    ticket: Ticket,
    *,
    reason: str,
    by: Any = None,
    request: HttpRequest | None = None,
    action: str = "ticket.frozen",
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
        operations.request_operation(
            kind,
            target_upn=ticket.upn,
            params=params,
            correlation=ticket.reference,
            requested_by=by,
        )
    log.record(
        "ticket.contained",
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
    action: str = "ticket.reported_not_me",
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
        action="ticket.fraud_flagged",
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
        "ticket.closed",
        actor=by,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        reason=reason.strip(),
    )
    return ticket

"""Staff pages. Thin: parse, fetch with an access check, call the domain, render or redirect."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from allauth.account.decorators import reauthentication_required
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from audit import actions, log
from audit.actions import Action
from audit.models import AuditEvent
from graphops.models import GraphOperation
from tickets import outbox, plans, workflow
from tickets import policy as policy_module
from tickets import queue as queue_module
from tickets.access import get_ticket_for_user
from tickets.forms_staff import (
    AssignForm,
    NoteForm,
    QueueFilterForm,
    ReasonForm,
    VerificationForm,
)
from tickets.models import MailKind, Status, TapChannel, Ticket

View = Callable[..., HttpResponse]


def with_ticket(*, write: bool) -> Callable[[View], View]:
    """Fetch the case with its access check (404 unseen, 403 read-only) before anything else —
    before a re-authentication prompt too, so nobody is asked to prove who they are for a case
    they may not touch — and show a refused transition on the case page."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, pk: int) -> HttpResponse:
            ticket = get_ticket_for_user(request.user, pk, write=write)
            try:
                return view(request, ticket)
            except workflow.TransitionRefused as exc:
                messages.error(request, str(exc))
                return redirect("staff_ticket", pk=pk)

        return wrapper

    return decorator


@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("tickets.view_queue"):
        raise PermissionDenied("Your role does not include the recovery queue.")
    form = QueueFilterForm(request.GET or None)
    tickets = queue_module.open_cases(request.user, form.filters())
    size = policy_module.current().queue_page_size
    page = Paginator(tickets, size).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    context = {"page": page, "form": form, "now": timezone.now(), "params": params.urlencode()}
    return render(request, "tickets/staff/queue.html", context)


def _case(ticket: Ticket, user: Any) -> dict[str, Any]:
    verification = workflow.active_verification(ticket)
    steps = list(verification.steps.all()) if verification else []
    ops = GraphOperation.objects.in_bulk([s.operation_id for s in steps if s.operation_id])
    delivery = workflow.tap_delivery_for(ticket)
    return {
        "ticket": ticket,
        "now": timezone.now(),
        "verification": verification,
        "confirmation": getattr(verification, "manager_confirmation", None),
        "approvals": verification.approvals.select_related("approver") if verification else [],
        "missing": workflow.missing_for_release(verification) if verification else [],
        "steps": [(s, ops.get(s.operation_id)) for s in steps],
        "failed": workflow.failed_operation(ticket),
        "can_retry": workflow.may_retry(ticket, user),
        "delivery": delivery,
        "containment": workflow.containment_summary(ticket),
        "can_reveal": workflow.may_reveal(ticket, channel=TapChannel.AGENT, user=user),
        "waiting_mail": outbox.waiting_mail(ticket),
        "earlier": ticket.verifications.filter(active=False).select_related("verified_by"),
        "duplicates": ticket.duplicates.all(),
        "facts": ticket.directory_facts or {},
        "methods": plans.directory_methods(ticket),
        "timeline": [
            (event, _timeline_label(event))
            for event in AuditEvent.objects.filter(ticket_ref=ticket.reference).order_by("id")
        ],
        "assign_form": AssignForm(),
        "note_form": NoteForm(),
        "reason_form": ReasonForm(),
        "close_form": ReasonForm(prefix="close"),
        "unfreeze_form": ReasonForm(prefix="unfreeze"),
        "Status": Status,
    }


_MAIL_ACTIONS = (Action.MAIL_SENT, Action.MAIL_FAILED, Action.MAIL_ABANDONED)


def _timeline_label(event: AuditEvent) -> str:
    """The action's label; a mail's also says which mail it was."""
    label = str(actions.label(event.action))
    kind = (event.data or {}).get("kind") if event.action in _MAIL_ACTIONS else None
    if kind in MailKind.values:
        return f"{label}: {MailKind(kind).label}"
    return label


@require_GET
@with_ticket(write=False)
def ticket_detail(request: HttpRequest, ticket: Ticket) -> HttpResponse:
    log.record(
        Action.DIRECTORY_VIEWED,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
    )
    return render(request, "tickets/staff/ticket.html", _case(ticket, request.user))


@require_POST
@with_ticket(write=True)
def claim(request: HttpRequest, ticket: Ticket) -> HttpResponse:
    workflow.claim(ticket, by=request.user, request=request)
    messages.success(request, _("The ticket is yours."))
    return redirect("staff_ticket", pk=ticket.pk)


@require_POST
@with_ticket(write=True)
def assign(request: HttpRequest, ticket: Ticket) -> HttpResponse:
    form = AssignForm(request.POST)
    if not form.is_valid():
        raise workflow.TransitionRefused(_("Choose an agent."))
    workflow.assign(ticket, to=form.cleaned_data["to"], by=request.user, request=request)
    return redirect("staff_ticket", pk=ticket.pk)


@require_GET
@never_cache
@with_ticket(write=True)
def verify_form(request: HttpRequest, ticket: Ticket) -> HttpResponse:
    if not request.user.has_perm("tickets.verify_identity"):
        raise PermissionDenied("Your role does not include identity verification.")
    prompts = plans.liveness_prompts(policy_module.current().liveness_prompt_count)
    form = VerificationForm(ticket=ticket, initial=VerificationForm.initial_for(ticket, prompts))
    return _verify_page(request, ticket, form, prompts)


def _verify_page(
    request: HttpRequest, ticket: Ticket, form: VerificationForm, prompts: list[str], status=200
) -> HttpResponse:
    context = {
        "ticket": ticket,
        "form": form,
        "prompts": prompts,
        "bounds": plans.tap_bounds(),
        "trusted_numbers": plans.trusted_phone_numbers(ticket),
    }
    return render(request, "tickets/staff/verify.html", context, status=status)


@require_POST
@with_ticket(write=True)
def verify_submit(request: HttpRequest, ticket: Ticket) -> HttpResponse:
    form = VerificationForm(request.POST, ticket=ticket)
    if not form.is_valid():
        prompts = form.cleaned_data.get("prompts") or []
        return _verify_page(request, ticket, form, prompts, status=400)
    workflow.verify_identity(
        ticket, by=request.user, evidence=form.evidence_record, plan=form.plan, request=request
    )
    messages.success(request, _("Identity verification recorded; the manager has been asked."))
    return redirect("staff_ticket", pk=ticket.pk)


@require_POST
@with_ticket(write=True)
@reauthentication_required
def approve(request: HttpRequest, ticket: Ticket) -> HttpResponse:
    form = NoteForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    workflow.approve(ticket, by=request.user, note=note, request=request)
    messages.success(request, _("Your approval is recorded."))
    return redirect("staff_ticket", pk=ticket.pk)


@require_POST
@with_ticket(write=True)
def flag_fraud(request: HttpRequest, ticket: Ticket) -> HttpResponse:
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    workflow.flag_fraud(ticket, by=request.user, reason=reason, request=request)
    messages.success(request, _("The case is frozen and the security officers are alerted."))
    return redirect("staff_ticket", pk=ticket.pk)


@require_POST
@with_ticket(write=True)
@reauthentication_required
def close(request: HttpRequest, ticket: Ticket) -> HttpResponse:
    form = ReasonForm(request.POST, prefix="close")
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    workflow.close(ticket, by=request.user, reason=reason, request=request)
    return redirect("staff_ticket", pk=ticket.pk)


@require_POST
@with_ticket(write=True)
@reauthentication_required
def unfreeze(request: HttpRequest, ticket: Ticket) -> HttpResponse:
    form = ReasonForm(request.POST, prefix="unfreeze")
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    workflow.unfreeze(ticket, by=request.user, reason=reason, request=request)
    messages.success(request, _("The case is released back to work."))
    return redirect("staff_ticket", pk=ticket.pk)


@require_POST
@with_ticket(write=True)
@reauthentication_required
def retry(request: HttpRequest, ticket: Ticket) -> HttpResponse:
    workflow.retry_failed_step(ticket, by=request.user, request=request)
    messages.success(request, _("The failed step was sent again."))
    return redirect("staff_ticket", pk=ticket.pk)

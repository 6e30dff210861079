"""Once-only TAP delivery: to the verifying agent on the live call, or to the requester on the
status page. The value is put in the response only — never stored, logged or cached."""

from __future__ import annotations

from allauth.account.decorators import reauthentication_required
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from tickets import intake, workflow
from tickets.forms_staff import RequesterRevealForm
from tickets.models import TapChannel, Ticket
from tickets.views.staff import with_ticket


def _pass_page(request: HttpRequest, ticket: Ticket, value: str, *, template: str) -> HttpResponse:
    context = {"ticket": ticket, "tap": value, "delivery": workflow.tap_delivery_for(ticket)}
    response = render(request, f"tickets/reveal/{template}.html", context)
    response["Cache-Control"] = "no-store, max-age=0"
    return response


@require_POST
@never_cache
@with_ticket(write=True)
@reauthentication_required
def agent_reveal(request: HttpRequest, ticket: Ticket) -> HttpResponse:
    value = workflow.reveal_tap(ticket, channel=TapChannel.AGENT, by=request.user, request=request)
    return _pass_page(request, ticket, value, template="agent")


def _requester_ticket(request: HttpRequest, form: RequesterRevealForm) -> Ticket | None:
    """The ticket this browser proved its claim code for, or the one the form's code opens."""
    ticket = intake.ticket_from_status_grant(request)
    if ticket is not None or not form.is_valid() or not form.cleaned_data["claim_code"]:
        return ticket
    reference = form.cleaned_data["reference"]
    if intake.status_throttle(request, reference=reference) is not intake.Throttle.OK:
        return None
    return intake.find_ticket_by_claim(reference, form.cleaned_data["claim_code"])


@require_POST
@login_not_required
@never_cache
def requester_reveal(request: HttpRequest) -> HttpResponse:
    form = RequesterRevealForm(request.POST)
    ticket = _requester_ticket(request, form)
    if ticket is None:
        return render(request, "tickets/reveal/unavailable.html", status=404)
    try:
        value = workflow.reveal_tap(ticket, channel=TapChannel.REQUESTER, request=request)
    except workflow.TransitionRefused:
        context = {"ticket": ticket, "already": True}
        return render(request, "tickets/reveal/unavailable.html", context, status=410)
    messages.info(request, _("Write the pass down now: it will not be shown again."))
    return _pass_page(request, ticket, value, template="requester")

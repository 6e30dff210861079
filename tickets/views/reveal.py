"""Once-only TAP delivery: to the verifying agent on the live call, or to the requester on the
status page. The value is put in the response only — never stored, logged or cached."""

from __future__ import annotations

from allauth.account.decorators import reauthentication_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from tickets import workflow
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

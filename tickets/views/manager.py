"""The manager's confirmation: opened from the mailed link, decided by the signed-in manager.

Opening the link changes nothing (mail scanners open links); the decision is a POST. The
signed-in identity must be the manager of record — checked in tickets.workflow.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from tickets import intake, workflow
from tickets.forms_staff import ManagerDecisionForm


def _invalid(request: HttpRequest, error: workflow.LinkInvalid) -> HttpResponse:
    intake.link_rejected(request, link="manager", error=error)
    return render(request, "tickets/manager/invalid.html", status=404)


def _throttled(request: HttpRequest) -> HttpResponse | None:
    """The 429 page while this client's failed link attempts are over the limit (or the counter
    store is down): checked before the token is read, so a valid one is not consumed."""
    verdict = intake.link_throttle(request, link="manager")
    if verdict is intake.Throttle.OK:
        return None
    context = {"throttle": verdict.value}
    return render(request, "tickets/manager/throttled.html", context, status=429)


@require_GET
@never_cache
def confirm(request: HttpRequest) -> HttpResponse:
    if refused := _throttled(request):
        return refused
    token = request.GET.get("t", "")
    try:
        confirmation = workflow.open_manager_link(token)
    except workflow.LinkInvalid as exc:
        return _invalid(request, exc)
    if not workflow.may_decide_as_manager(confirmation, request.user):
        raise PermissionDenied("You are not the person this confirmation is for.")
    context = {
        "confirmation": confirmation,
        "ticket": confirmation.ticket,
        "verification": confirmation.verification,
        "form": ManagerDecisionForm(),
        "token": token,
    }
    return render(request, "tickets/manager/confirm.html", context)


@require_POST
@never_cache
def decide(request: HttpRequest) -> HttpResponse:
    if refused := _throttled(request):
        return refused
    token = request.POST.get("t", "")
    form = ManagerDecisionForm(request.POST)
    try:
        confirmation = workflow.open_manager_link(token)
        if not form.is_valid():
            context = {
                "confirmation": confirmation,
                "ticket": confirmation.ticket,
                "verification": confirmation.verification,
                "form": form,
                "token": token,
            }
            return render(request, "tickets/manager/confirm.html", context, status=400)
        confirmation = workflow.decide_as_manager(
            token,
            by=request.user,
            confirm=form.cleaned_data["decision"] == "confirm",
            reason=form.cleaned_data["reason"],
            request=request,
        )
    except workflow.LinkInvalid as exc:
        return _invalid(request, exc)
    except workflow.DutyConflict as exc:
        raise PermissionDenied(str(exc)) from None
    except workflow.TransitionRefused as exc:
        return render(request, "tickets/manager/invalid.html", {"reason": str(exc)}, status=409)
    return render(request, "tickets/manager/done.html", {"confirmation": confirmation})

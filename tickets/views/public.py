"""Public pages for the locked-out employee: no sign-in possible, so every view is marked.

Triage first (the seeds' self-help paths), then the IT request, the status page, and the
"this wasn't me" link. Secrets travel only in POST bodies and in responses marked no-store.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_POST

from tickets import intake, workflow
from tickets.forms_public import TRIAGE_QUESTIONS, IntakeForm, NotMeForm, StatusForm, TriageForm
from tickets.models import TriagePath

# Far above any honest request (every field at its limit is ≈ 6 KB), far below Django's 2.5 MB.
MAX_INTAKE_BODY_BYTES = 16 * 1024

GUIDE_URLS = {
    TriagePath.PERSONAL_ACCOUNT: "public_guide_personal",
    TriagePath.BACKUP_RESTORE: "public_guide_restore",
    TriagePath.OTHER_METHOD: "public_guide_other_method",
    TriagePath.REQUEST_FORM: "public_request",
}


def _no_store(response: HttpResponse) -> HttpResponse:
    add_never_cache_headers(response)  # no-cache, no-store, must-revalidate, private
    return response


# --- Triage --------------------------------------------------------------------------------


@require_GET
@login_not_required
def start(request: HttpRequest) -> HttpResponse:
    form = TriageForm(step="account")
    return render(request, "tickets/public/start.html", {"form": form})


@require_GET
@login_not_required
def question(request: HttpRequest, step: str) -> HttpResponse:
    if step not in TRIAGE_QUESTIONS or step == "account":
        raise Http404
    return render(request, "tickets/public/question.html", {"form": TriageForm(step=step)})


@require_POST
@login_not_required
def answer(request: HttpRequest) -> HttpResponse:
    step = request.POST.get("step", "")
    if step not in TRIAGE_QUESTIONS:
        return redirect("public_start")
    form = TriageForm(request.POST, step=step)
    if not form.is_valid():
        template = "start.html" if step == "account" else "question.html"
        return render(request, f"tickets/public/{template}", {"form": form}, status=400)
    target = intake.triage_answer(step, form.cleaned_data["answer"], request=request)
    if isinstance(target, TriagePath):
        return redirect(GUIDE_URLS[target])
    return redirect("public_question", step=target)


@require_GET
@login_not_required
def guide_personal(request: HttpRequest) -> HttpResponse:
    return render(request, "tickets/public/guide_personal.html")


@require_GET
@login_not_required
def guide_restore(request: HttpRequest) -> HttpResponse:
    return render(request, "tickets/public/guide_restore.html")


@require_GET
@login_not_required
def guide_other_method(request: HttpRequest) -> HttpResponse:
    return render(request, "tickets/public/guide_other_method.html")


# --- The request -----------------------------------------------------------------------------


def _request_page(request: HttpRequest, form: IntakeForm, *, status: int = 200, **extra: object):
    context = {"form": form, "tenant_domains": settings.TENANT_DOMAINS, **extra}
    return render(request, "tickets/public/request_form.html", context, status=status)


@require_GET
@login_not_required
def request_form(request: HttpRequest) -> HttpResponse:
    return _request_page(request, IntakeForm())


@require_POST
@login_not_required
def request_submit(request: HttpRequest) -> HttpResponse:
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_INTAKE_BODY_BYTES:
        return _request_page(request, IntakeForm(), status=413, too_large=True)
    form = IntakeForm(request.POST)
    if not form.is_valid():
        return _request_page(request, form, status=400)
    verdict = intake.intake_throttle(request, upn=form.cleaned_data["upn"])
    if verdict is intake.Throttle.LIMITED:
        return _request_page(request, form, status=429, throttled=True)
    receipt = intake.submit_request(form.to_request(), request=request)
    context = {"reference": receipt.ticket.reference, "claim_code": receipt.claim_code}
    return _no_store(render(request, "tickets/public/request_received.html", context))


# --- The status page -------------------------------------------------------------------------


@require_GET
@login_not_required
def status_form(request: HttpRequest) -> HttpResponse:
    return render(request, "tickets/public/status_form.html", {"form": StatusForm()})


@require_POST
@login_not_required
def status_check(request: HttpRequest) -> HttpResponse:
    form = StatusForm(request.POST)
    verdict = intake.status_throttle(request, reference=request.POST.get("reference", ""))
    if verdict is not intake.Throttle.OK:
        context = {"form": StatusForm(), "throttle": verdict.value}
        return render(request, "tickets/public/status_form.html", context, status=429)
    ticket = None
    if form.is_valid():
        data = form.cleaned_data
        ticket = intake.find_ticket_by_claim(data["reference"], data["claim_code"])
    if ticket is None:
        context = {"form": form, "not_recognised": form.is_valid()}
        return render(request, "tickets/public/status_form.html", context, status=400)
    intake.grant_status_access(request, ticket)
    return redirect("public_status_case")


@require_GET
@login_not_required
def status_case(request: HttpRequest) -> HttpResponse:
    ticket = intake.ticket_from_status_grant(request)
    if ticket is None:
        # htmx polling after the grant ran out: leave the page as it is (no swap).
        return (
            HttpResponse(status=204)
            if request.headers.get("HX-Request")
            else redirect("public_status")
        )
    context = {
        "ticket": ticket,
        "case": intake.case_view(ticket),
        "reveal_offered": workflow.pass_goes_to_requester(ticket),
    }
    return _no_store(render(request, "tickets/public/status.html", context))


@require_POST
@login_not_required
def status_leave(request: HttpRequest) -> HttpResponse:
    intake.revoke_status_access(request)
    return redirect("public_status")


# --- "This wasn't me" ------------------------------------------------------------------------


def _not_me_throttled(request: HttpRequest, verdict: intake.Throttle) -> HttpResponse:
    context = {"throttle": verdict.value}
    return _no_store(render(request, "tickets/public/not_me_throttled.html", context, status=429))


def _not_me_invalid(request: HttpRequest, error: intake.NotMeLinkInvalid) -> HttpResponse:
    intake.link_rejected(request, link="not_me", error=error)
    return _no_store(render(request, "tickets/public/not_me_invalid.html", status=400))


@require_GET
@login_not_required
def not_me(request: HttpRequest) -> HttpResponse:
    """Opening the mailed link changes nothing (mail scanners open links): it asks to confirm."""
    verdict = intake.link_throttle(request, link="not_me")
    if verdict is not intake.Throttle.OK:
        return _not_me_throttled(request, verdict)
    token = request.GET.get("t", "")
    try:
        link = intake.open_not_me_link(token)
    except intake.NotMeLinkInvalid as exc:
        return _not_me_invalid(request, exc)
    context = {"form": NotMeForm(initial={"t": token}), "reference": link.ticket.reference}
    return _no_store(render(request, "tickets/public/not_me_confirm.html", context))


@require_POST
@login_not_required
def not_me_report(request: HttpRequest) -> HttpResponse:
    verdict = intake.link_throttle(request, link="not_me")
    if verdict is not intake.Throttle.OK:
        return _not_me_throttled(request, verdict)
    form = NotMeForm(request.POST)
    try:
        if not form.is_valid():
            raise intake.NotMeLinkInvalid("bad_signature")
        ticket = intake.report_not_me(form.cleaned_data["t"], request=request)
    except intake.NotMeLinkInvalid as exc:
        return _not_me_invalid(request, exc)
    context = {"reference": ticket.reference}
    return _no_store(render(request, "tickets/public/not_me_done.html", context))

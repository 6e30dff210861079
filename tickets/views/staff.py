"""Staff pages. Thin: parse, fetch with an access check, call the domain, render."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from tickets.access import tickets_visible_to
from tickets.models import OPEN_STATUSES


@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("tickets.view_queue"):
        raise PermissionDenied("Your role does not include the recovery queue.")
    tickets = tickets_visible_to(request.user).filter(status__in=OPEN_STATUSES)
    page = Paginator(tickets.select_related("assigned_to"), 50).get_page(request.GET.get("page"))
    return render(request, "tickets/staff/queue.html", {"page": page})

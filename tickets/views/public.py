"""Public pages for the locked-out employee: no sign-in possible, so every view is marked."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


@require_GET
@login_not_required
def start(request: HttpRequest) -> HttpResponse:
    return render(request, "tickets/public/start.html")

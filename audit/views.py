from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audit.models import AuditEvent


@require_GET
def audit_home(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("audit.view_audit_trail"):
        raise PermissionDenied("Your role does not include the audit trail.")
    events = AuditEvent.objects.order_by("-id")[:50]
    return render(request, "audit/home.html", {"events": events})

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET


@require_GET
def staff_home(request: HttpRequest) -> HttpResponse:
    """Where a staff member lands after sign-in: the first workspace their roles open."""
    user = request.user
    if user.has_perm("tickets.view_queue"):
        return redirect("staff_queue")
    if user.has_perm("audit.view_audit_trail"):
        return redirect("audit_home")
    return render(request, "tickets/staff/no_role.html", status=403)

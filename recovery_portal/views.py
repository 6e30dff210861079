from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from recovery_portal import health


@require_GET
@never_cache
@login_not_required
def health_view(request: HttpRequest) -> JsonResponse:
    """For probes: 200 when database, Redis and the worker are all up, else 503."""
    checks = health.report()
    healthy = all(c["ok"] for c in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", "checks": checks},
        status=200 if healthy else 503,
    )


@require_http_methods(["GET", "POST"])
def email_managed_by_admin(request: HttpRequest) -> HttpResponse:
    """allauth's e-mail self-service, switched off: a staff member's address is part of who
    they are to the workflow (the manager-of-record check), so only an administrator sets it."""
    raise Http404("Staff e-mail addresses are managed by an administrator.")

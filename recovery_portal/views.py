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
def managed_by_admin(request: HttpRequest) -> HttpResponse:
    """allauth self-service pages switched off, each because who a person is to the portal is
    not theirs to change:
    - e-mail addresses: part of who they are to the workflow (the manager-of-record check);
    - linked identities (Entra): matched by tenant + object id at sign-in, never linked by hand;
    - setting a password on an Entra-only account: it would be a way in that Entra's own
      controls (a disabled user, Conditional Access) no longer govern."""
    raise Http404("Managed by an administrator.")

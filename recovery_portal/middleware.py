"""Private by default, and staff must have MFA before any staff page opens."""

from __future__ import annotations

from collections.abc import Callable

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

# Paths a signed-in user without MFA may still open: enrolment itself, sign-out, static files
# and the public pages (which are open to anyone anyway).
_ALLOWED_PREFIXES = ("/accounts/", "/static/", "/health/", "/i18n/", "/favicon")


def _signed_in_through_entra(request: HttpRequest) -> bool:
    # Entra enforces MFA itself (Conditional Access); allauth records how this session began.
    return any(r.get("method") == "socialaccount" for r in get_authentication_records(request))


class PublicFirstLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Django's LoginRequiredMiddleware, asking the view before the session.

    Django's own asks ``request.user.is_authenticated`` first, which loads the session and the
    user from the database even for a public view: with PostgreSQL down, /health/ then fails
    with 500 for any request carrying a session cookie instead of answering 503. Same outcome
    for every path; a public view just no longer pays a database read it does not use.
    """

    def process_view(self, request, view_func, view_args, view_kwargs):  # type: ignore[no-untyped-def]
        if getattr(view_func, "login_required", True) is False:
            return None  # a public page, marked with @login_not_required
        return super().process_view(request, view_func, view_args, view_kwargs)


class RequireStaffMFAMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):  # type: ignore[no-untyped-def]
        # Public pages first: they must not load the session's user (a database read), so
        # that /health/ still answers 503 with a session cookie while the database is down.
        if request.path.startswith(_ALLOWED_PREFIXES):
            return None
        if getattr(view_func, "login_required", True) is False:
            return None  # a public page, marked with @login_not_required
        user = request.user
        if not user.is_authenticated:
            return None
        if _signed_in_through_entra(request):
            return None
        has_mfa = Authenticator.objects.filter(
            user=user, type__in=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
        ).exists()
        if has_mfa:
            return None
        return redirect(f"{reverse('mfa_activate_totp')}?next={request.get_full_path()}")

"""Private by default, and every signed-in page needs a session that passed a second factor."""

from __future__ import annotations

from collections.abc import Callable

from allauth.mfa.models import Authenticator
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from recovery_portal import assurance

# Never personal, open to anyone: static files, the probe, the language switch.
_ALWAYS_OPEN = ("/static/", "/health/", "/i18n/", "/favicon")

# What a session without a second factor may still open — the second-factor step itself.
# An account that has a second factor proves it again (code, recovery code or security key);
# one that has none enrols its first, which allauth guards with the password just typed.
_PROVE_STEP = {"mfa_reauthenticate", "mfa_reauthenticate_webauthn"}
_ENROL_STEP = {"mfa_activate_totp", "mfa_add_webauthn", "account_reauthenticate"}
_SECOND_FACTORS = [
    Authenticator.Type.TOTP,
    Authenticator.Type.WEBAUTHN,
    Authenticator.Type.RECOVERY_CODES,
]


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


class RequireSessionMFAMiddleware:
    """A signed-in session that has not passed a second factor sees the second-factor step only.

    Whatever the way in — allauth's sign-in, Django's admin login, a session from before this
    rule, a session whose authenticator an administrator removed — the question is the same:
    did *this session* pass a second factor that still stands (recovery_portal.assurance)?
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):  # type: ignore[no-untyped-def]
        # Public pages first: they must not load the session's user (a database read), so
        # that /health/ still answers 503 with a session cookie while the database is down.
        if request.path.startswith(_ALWAYS_OPEN):
            return None
        if getattr(view_func, "login_required", True) is False:
            return None  # a public page (marked @login_not_required), sign-out included
        if not request.user.is_authenticated:
            return None
        url_name = request.resolver_match.url_name if request.resolver_match else None
        # From allauth's password re-authentication, on to wherever it was taking the browser.
        at_password_page = url_name == "account_reauthenticate"
        next_url = request.GET.get("next", "") if at_password_page else _next_of(request)
        if assurance.second_factor_passed(request):
            if at_password_page and _has_second_factor(request):
                # The password alone never re-authenticates an account that has a second
                # factor: a session left open is exactly what re-authentication guards.
                return redirect(_prove_url(request, next_url=next_url))
            return None
        if _has_second_factor(request):
            if url_name in _PROVE_STEP:
                return None
            return redirect(_prove_url(request, next_url=next_url))
        if url_name in _ENROL_STEP:
            return None
        return redirect(_with_next(reverse("mfa_activate_totp"), next_url))


def _has_second_factor(request: HttpRequest) -> bool:
    return Authenticator.objects.filter(user_id=request.user.pk, type__in=_SECOND_FACTORS).exists()


def _prove_url(request: HttpRequest, *, next_url: str) -> str:
    """allauth's own second-factor step: the code form, or the security key for an account
    whose only factor is a key."""
    has_code = Authenticator.objects.filter(
        user_id=request.user.pk,
        type__in=[Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES],
    ).exists()
    name = "mfa_reauthenticate" if has_code else "mfa_reauthenticate_webauthn"
    return _with_next(reverse(name), next_url)


def _next_of(request: HttpRequest) -> str:
    # After the step, back to the page asked for; a form post cannot be replayed by a GET.
    return request.get_full_path() if request.method == "GET" else ""


def _with_next(url: str, next_url: str) -> str:
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url

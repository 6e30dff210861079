"""allauth adapters: no self-made accounts, re-authentication through the second factor, and
Entra sign-in keyed by tenant + object id, with MFA asserted by the ID token."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.providers.base import AuthProcess
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from recovery_portal import assurance
from recovery_portal.entra import claims, signin


class StaffAccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # Staff accounts are created by an administrator; nobody signs themselves up.
        return False

    def is_reauthentication_required(self, *, app: str, **kwargs: Any) -> bool:
        # A second factor passed within the window (ACCOUNT_REAUTHENTICATION_TIMEOUT) — at
        # sign-in or since — is as recent as a re-authentication: the portal's destructive
        # actions and allauth's own (adding a key, showing recovery codes) go ahead. Past it,
        # allauth asks again, and only a second factor re-authenticates an account that has one
        # (get_reauthentication_methods; the middleware closes the password page to it).
        if context.request is not None and assurance.second_factor_is_recent(context.request):
            return False
        return super().is_reauthentication_required(app=app, **kwargs)

    def get_reauthentication_methods(self, user: Any) -> list[dict[str, Any]]:
        """The second factor first; the password only for an account that has no second
        factor yet (enrolling its first, which allauth guards with the password)."""
        methods = super().get_reauthentication_methods(user)
        factors = [m for m in methods if m["id"].startswith("mfa_reauthenticate")]
        return factors or methods

    def post_login(self, request: HttpRequest, user: AbstractBaseUser, **kwargs: Any) -> Any:
        sociallogin = (kwargs.get("signal_kwargs") or {}).get("sociallogin")
        if sociallogin is not None and sociallogin.account.provider == assurance.ENTRA_PROVIDER:
            signin.signed_in(request, user, sociallogin)
        return super().post_login(request, user, **kwargs)


def _refused(request: HttpRequest, reason: claims.Refusal) -> ImmediateHttpResponse:
    response: HttpResponse = render(
        request, "socialaccount/entra_refused.html", {"reason": reason.value}, status=403
    )
    return ImmediateHttpResponse(response)


class EntraSocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        # Anyone of the tenant who passes pre_social_login gets an account with no role: a
        # manager confirming a case needs no more. Staff roles are given in the portal, or come
        # from Entra's app roles / groups (ENTRA_SSO_ROLES_FROM), re-read at every sign-in.
        return bool(settings.ENTRA_SSO_ENABLED)

    def is_auto_signup_allowed(self, request: HttpRequest, sociallogin: Any) -> bool:
        return True

    def pre_social_login(self, request: HttpRequest, sociallogin: Any) -> None:
        if sociallogin.account.provider != assurance.ENTRA_PROVIDER or not (
            settings.ENTRA_SSO_ENABLED
        ):
            raise _refused(request, claims.Refusal.OTHER_TENANT)
        if sociallogin.state.get("process") == AuthProcess.CONNECT:
            # Identities are linked by tenant + object id only, never by someone at a browser.
            raise _refused(request, claims.Refusal.INCOMPLETE)
        reason = signin.refusal_of(sociallogin)
        if reason is not None:
            raise _refused(request, reason)

    def populate_user(self, request: HttpRequest, sociallogin: Any, data: dict[str, Any]) -> Any:
        user = super().populate_user(request, sociallogin, data)
        user.email = ""  # never taken from Entra (see EntraProvider.extract_common_fields)
        return user

    def get_requests_session(self) -> Any:
        session = super().get_requests_session()
        if settings.ENTRA_SSO_CA_FILE:
            session.verify = settings.ENTRA_SSO_CA_FILE  # the simulated tenant's own CA
        return session

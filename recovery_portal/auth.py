"""allauth adapters: staff accounts only, Entra sign-in restricted to the configured tenant."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.http import HttpRequest, HttpResponseForbidden


class StaffAccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # Staff accounts are created by an administrator; nobody signs themselves up.
        return False


class EntraSocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        # Entra sign-in connects to an existing staff account (matched by e-mail); it never
        # creates one, so a valid account in the tenant is not by itself a staff member.
        return False

    def pre_social_login(self, request: HttpRequest, sociallogin: Any) -> None:
        if sociallogin.account.provider != "microsoft":
            raise ImmediateHttpResponse(HttpResponseForbidden("Unknown identity provider."))
        tenant = str(sociallogin.account.extra_data.get("tid") or "")
        if not settings.ENTRA_SSO_ENABLED or tenant.lower() != settings.ENTRA_SSO_TENANT_ID.lower():
            raise ImmediateHttpResponse(
                HttpResponseForbidden("This Microsoft account does not belong to the tenant.")
            )

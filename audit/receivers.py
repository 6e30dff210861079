"""Staff sign-in events, from allauth's and Django's signals (connected in AuditConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from audit import log
from audit.actions import Action
from audit.models import Outcome

# Only these credential keys name the account tried; the rest (the password) never leave here.
_LOGIN_KEYS = ("username", "login", "email")


def on_user_logged_in(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    log.record(Action.STAFF_SIGNED_IN, actor=user, request=request)


def on_user_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    tried = next((str(credentials[k]) for k in _LOGIN_KEYS if credentials.get(k)), "")
    # The actor is whoever the session already holds: nobody at sign-in, the staff member
    # themselves when a re-authentication fails.
    log.record(Action.STAFF_SIGN_IN_FAILED, request=request, subject=tried, outcome=Outcome.FAILURE)


def on_mfa_failed(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    authenticator = kwargs.get("authenticator")
    log.record(
        Action.STAFF_MFA_FAILED,
        actor=user,
        request=request,
        outcome=Outcome.FAILURE,
        data={
            "authenticator": getattr(authenticator, "type", ""),
            "reauthentication": bool(kwargs.get("reauthentication", False)),
        },
    )


def on_user_logged_out(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    if user is not None:
        log.record(Action.STAFF_SIGNED_OUT, actor=user, request=request)

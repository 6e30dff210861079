"""What this session has proven, read from the records allauth keeps per session.

allauth appends one record per authentication step to the session (password, a second factor,
a social sign-in; at sign-in and at re-authentication). The portal asks two questions of them:
did *this session* pass a second factor that still stands, and how long ago. Knowing that the
account *has* an authenticator says nothing about the session: a password typed into Django's
own admin login, or a session older than the second-factor rule, never passed one.

Two kinds of record prove a second factor:
- allauth's ``{"method": "mfa", "id": <authenticator pk>, "type": "totp" | "webauthn" |
  "recovery_codes"}`` — it stands while that authenticator exists (an administrator removing a
  lost phone's authenticator ends every session that signed in with it);
- ours, ``{"method": "entra_mfa", "uid": "<tid>:<oid>", "amr": [...], "acrs": [...]}``, added
  when an Entra sign-in's ID token asserted MFA (recovery_portal.entra) — it stands while that
  Entra identity is still linked to the account.
"""

from __future__ import annotations

import time
from typing import Any

from allauth.account.authentication import get_authentication_records
from allauth.account.internal.flows.login import record_authentication
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.http import HttpRequest

SECOND_FACTOR = "mfa"
ENTRA_MFA = "entra_mfa"
ENTRA_PROVIDER = "microsoft"


def _records(request: HttpRequest, method: str) -> list[dict[str, Any]]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    return [r for r in get_authentication_records(request, user) if r.get("method") == method]


def second_factor_passed(request: HttpRequest) -> bool:
    """True when this session completed a second factor that still stands.

    One query in the usual case (the authenticator still exists); a second one only for a
    session that came through Entra.
    """
    user = request.user
    used = {r["id"] for r in _records(request, SECOND_FACTOR) if "id" in r}
    if used and Authenticator.objects.filter(user_id=user.pk, pk__in=used).exists():
        return True
    linked = {r["uid"] for r in _records(request, ENTRA_MFA) if "uid" in r}
    return bool(linked) and (
        SocialAccount.objects.filter(
            user_id=user.pk, provider=ENTRA_PROVIDER, uid__in=linked
        ).exists()
    )


def seconds_since_second_factor(request: HttpRequest) -> float | None:
    """How long ago this session last passed a second factor (sign-in or re-authentication),
    or None if it never did."""
    times = [r["at"] for m in (SECOND_FACTOR, ENTRA_MFA) for r in _records(request, m) if "at" in r]
    return time.time() - max(times) if times else None


def second_factor_is_recent(request: HttpRequest) -> bool:
    """Within the re-authentication window (ACCOUNT_REAUTHENTICATION_TIMEOUT) of the last
    second factor this session passed."""
    age = seconds_since_second_factor(request)
    return age is not None and age < settings.ACCOUNT_REAUTHENTICATION_TIMEOUT


def seconds_since_password(request: HttpRequest) -> float | None:
    """How long ago this session last typed the account's password, or None."""
    times = [r["at"] for r in _records(request, "password") if "at" in r]
    return time.time() - max(times) if times else None


def record_entra_mfa(
    request: HttpRequest, user: Any, *, uid: str, amr: list[str], acrs: list[str]
) -> None:
    """Note in the session that an Entra sign-in asserting MFA was just completed.

    Precondition: the ID token was verified and its MFA evidence accepted
    (recovery_portal.entra.claims.mfa_evidence). Called once the user is signed in, so that
    the record lands in the session that stays.
    """
    record_authentication(request, user, ENTRA_MFA, uid=uid, amr=amr, acrs=acrs)

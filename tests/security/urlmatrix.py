"""Every route of the URLconf, the people who may knock on it, and a case to knock with.

Shared by the authorization matrix, the CSRF test and the header test. Routes are walked from
``get_resolver()`` (includes followed); the ones left out are named here with the reason.
"""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

# Left out of the matrix, each for a reason:
EXCLUDED_PREFIXES = {
    # Django's admin: its own permission system (is_staff / is_superuser); tested separately
    # (test_admin_is_closed_to_every_role).
    "admin/": "Django admin, tested separately",
    # allauth's sign-in, MFA enrolment, re-authentication, password reset, Entra callback: the
    # library's own views, open to anyone by design; sign-in throttling, cookie flags and
    # CSRF on sign-in are tested in test_throttles / test_headers / test_csrf.
    "accounts/": "allauth's own views",
}

ROLES = ["anonymous", "outsider", "agent", "approver", "security", "auditor", "manager"]


def _walk(patterns: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for p in patterns:
        if isinstance(p, URLResolver):
            found += _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            found.append((prefix + str(p.pattern), p))
    return found


def routes() -> list[tuple[str, str, Any]]:
    """(name, pattern, callback) of every route outside the excluded prefixes."""
    return [
        (p.name or pattern, pattern, p.callback)
        for pattern, p in _walk(get_resolver().url_patterns)
        if not pattern.startswith(tuple(EXCLUDED_PREFIXES))
    ]


def fill(pattern: str, case: dict[str, Any]) -> str:
    """The pattern with its converters replaced by the case's values."""
    url = "/" + (
        pattern.replace("<int:pk>", str(case["pk"]))
        .replace("<str:ref>", case["reference"])
        .replace("<slug:step>", case["step"])
    )
    assert "<" not in url, f"teach fill() the converter in {pattern}"
    return url

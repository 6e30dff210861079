"""System checks of the sign-in configuration (run at every start, `manage.py check`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from tickets.roles import Role


@checks.register(checks.Tags.security)
def check_entra_role_map(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every role ENTRA_SSO_ROLE_MAP names must be a portal role: a typo would grant nothing
    and nobody would notice until the first agent was locked out."""
    unknown = sorted(set(settings.ENTRA_SSO_ROLE_MAP.values()) - set(Role.values))
    if not unknown:
        return []
    return [
        checks.Error(
            f"ENTRA_SSO_ROLE_MAP names unknown roles: {', '.join(unknown)}.",
            hint=f"Roles are: {', '.join(Role.values)}.",
            id="recovery_portal.E001",
        )
    ]

"""What an accepted Entra sign-in does to the portal: the session's MFA record, and the roles."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.http import HttpRequest

from recovery_portal import assurance
from recovery_portal.entra import claims
from tickets.roles import Role


def identity_of(sociallogin: Any) -> claims.EntraIdentity:
    return claims.identity_from_claims(sociallogin.account.extra_data.get("id_token") or {})


def refusal_of(sociallogin: Any) -> claims.Refusal | None:
    return claims.refusal(
        identity_of(sociallogin),
        tenant_id=settings.ENTRA_SSO_TENANT_ID,
        auth_context=settings.ENTRA_SSO_AUTH_CONTEXT,
        roles_from=settings.ENTRA_SSO_ROLES_FROM,
    )


@transaction.atomic
def signed_in(request: HttpRequest, user: Any, sociallogin: Any) -> None:
    """Record the token's MFA in this session, and re-read the roles if Entra assigns them.

    Precondition: ``refusal_of(sociallogin)`` is None (the adapter refused otherwise) and
    ``user`` is now signed in. Runs at every Entra sign-in, so a role removed in Entra is gone
    from the portal at the next sign-in.
    """
    identity = identity_of(sociallogin)
    assurance.record_entra_mfa(
        request, user, uid=identity.uid, amr=list(identity.amr), acrs=list(identity.acrs)
    )
    sync_roles(user, identity)


def sync_roles(user: Any, identity: claims.EntraIdentity) -> None:
    """Make the user's role groups exactly those the token maps to (other groups untouched);
    nothing when roles are assigned in the portal."""
    wanted = claims.roles_for(
        identity,
        roles_from=settings.ENTRA_SSO_ROLES_FROM,
        role_map=settings.ENTRA_SSO_ROLE_MAP,
    )
    if wanted is None:
        return
    role_groups = list(Group.objects.filter(name__in=Role.values))
    user.groups.remove(*[g for g in role_groups if g.name not in wanted])
    user.groups.add(*[g for g in role_groups if g.name in wanted])

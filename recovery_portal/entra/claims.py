"""What an Entra ID token says, and what the portal accepts of it. Pure functions.

The identity is the pair ``tid`` (the tenant) + ``oid`` (the user object): both immutable and
never reassigned. ``preferred_username``, ``email`` and ``name`` are display values an
administrator or the user may change; nothing is matched on them (the "nOAuth" takeover comes
from matching on a mutable e-mail claim).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class Refusal(enum.StrEnum):
    """Why a sign-in is refused (shown to the person, in words, by the adapter)."""

    INCOMPLETE = "incomplete"  # no tid or oid: not a work account's ID token
    OTHER_TENANT = "other_tenant"
    NO_MFA = "no_mfa"
    GROUPS_OVERAGE = "groups_overage"  # too many groups for the token: roles cannot be read


@dataclass(frozen=True)
class EntraIdentity:
    tenant_id: str
    object_id: str
    username: str
    name: str
    amr: tuple[str, ...]
    acrs: tuple[str, ...]
    roles: tuple[str, ...]
    # None when the token could not carry them all (the "groups overage" claim).
    groups: tuple[str, ...] | None
    issued_at: int

    @property
    def uid(self) -> str:
        """The SocialAccount uid: ``<tid>:<oid>``, lower case."""
        return f"{self.tenant_id}:{self.object_id}"

    def as_extra_data(self) -> dict[str, Any]:
        """What is kept on the SocialAccount (ids, methods, roles; the token itself is not)."""
        return {
            "tid": self.tenant_id,
            "oid": self.object_id,
            "preferred_username": self.username,
            "name": self.name,
            "amr": list(self.amr),
            "acrs": list(self.acrs),
            "roles": list(self.roles),
            "groups": None if self.groups is None else list(self.groups),
            "iat": self.issued_at,
        }


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return ()


def identity_from_claims(claims: Mapping[str, Any]) -> EntraIdentity:
    """The identity a verified ID token (or the extra data kept from one) names."""
    overage = "groups" in (claims.get("_claim_names") or {}) or bool(claims.get("hasgroups"))
    groups = claims.get("groups")
    return EntraIdentity(
        tenant_id=str(claims.get("tid") or "").lower(),
        object_id=str(claims.get("oid") or "").lower(),
        username=str(claims.get("preferred_username") or ""),
        name=str(claims.get("name") or ""),
        amr=_strings(claims.get("amr")),
        acrs=_strings(claims.get("acrs")),
        roles=_strings(claims.get("roles")),
        groups=None if overage else _strings(groups),
        issued_at=int(claims.get("iat") or 0),
    )


def asserts_mfa(identity: EntraIdentity, *, auth_context: str) -> bool:
    """Whether the token says MFA was done: the configured Conditional Access authentication
    context in ``acrs`` when one is configured, else ``mfa`` in ``amr``."""
    if auth_context:
        return auth_context in identity.acrs
    return "mfa" in identity.amr


def refusal(
    identity: EntraIdentity, *, tenant_id: str, auth_context: str, roles_from: str
) -> Refusal | None:
    """Why this sign-in must be refused, or None to accept it."""
    if not identity.tenant_id or not identity.object_id:
        return Refusal.INCOMPLETE
    if identity.tenant_id != tenant_id.lower():
        return Refusal.OTHER_TENANT
    if not asserts_mfa(identity, auth_context=auth_context):
        return Refusal.NO_MFA
    if roles_from == "groups" and identity.groups is None:
        return Refusal.GROUPS_OVERAGE
    return None


def roles_for(
    identity: EntraIdentity, *, roles_from: str, role_map: Mapping[str, str]
) -> set[str] | None:
    """The portal roles the token grants, or None when roles are assigned in the portal.

    ``roles_from`` is "portal" (None: the token decides nothing), "app_roles" (the token's
    ``roles``: app roles assigned to the user in Entra) or "groups" (the ``groups`` object ids).
    A claim value absent from ``role_map`` grants nothing.
    """
    if roles_from == "portal":
        return None
    values = identity.roles if roles_from == "app_roles" else (identity.groups or ())
    return {role_map[v] for v in values if v in role_map}

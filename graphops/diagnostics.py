"""``manage.py graph_check``: is the configured tenant ready for the features the portal uses?

Each finding is written for the Entra administrator who has to act on it.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from graphops import calls, client, credential, errors

CONSENT_PATH = (
    "Entra admin center → App registrations → {app} → API permissions → Add a permission → "
    "Microsoft Graph → Application permissions → {perm}, then “Grant admin consent”."
)


@dataclass(frozen=True)
class Need:
    feature: str
    purpose: str
    permission: str  # the least-privileged one, which we ask for
    also_accepted: tuple[str, ...] = ()


NEEDS = (
    Need(
        "lookup",
        "look up users and their managers",
        "User.Read.All",
        ("User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
    ),
    Need(
        "roles",
        "tell whether a user holds a privileged directory role",
        "RoleManagement.Read.Directory",
        ("RoleManagement.Read.All", "Directory.Read.All", "RoleManagement.ReadWrite.Directory"),
    ),
    Need(
        "methods",
        "list and delete authentication methods",
        "UserAuthenticationMethod.ReadWrite.All",
    ),
    Need(
        "tap",
        "issue Temporary Access Passes",
        "UserAuthenticationMethod.ReadWrite.All",
        ("UserAuthMethod-TAP.ReadWrite.All",),
    ),
    Need(
        "tap",
        "read the Temporary Access Pass policy",
        "Policy.Read.AuthenticationMethod",
        ("Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"),
    ),
    Need(
        "revoke",
        "revoke sign-in sessions",
        "User.RevokeSessions.All",
        ("User.ReadWrite.All", "Directory.ReadWrite.All"),
    ),
    Need(
        "ca_exclusion",
        "add and remove users in the Conditional Access exclusion group",
        "GroupMember.ReadWrite.All",
        ("Group.ReadWrite.All", "Directory.ReadWrite.All"),
    ),
)


@dataclass(frozen=True)
class Finding:
    ok: bool
    topic: str
    message: str


def run_checks() -> list[Finding]:
    findings = [_configuration()]
    cred = credential.MsalCredential(_fresh_app(findings))
    if not findings[-1].ok:
        return findings
    roles = _token(cred, findings)
    if roles is None:
        return findings
    findings += _permissions(roles)
    findings += _probe_tap_policy(cred)
    findings += _probe_exclusion_group(cred)
    return findings


def _configuration() -> Finding:
    kind = "certificate" if settings.GRAPH_CLIENT_CERTIFICATE_PATH else "client secret"
    return Finding(
        True,
        "configuration",
        f"cloud {settings.GRAPH_CLOUD}, tenant {settings.GRAPH_TENANT_ID}, "
        f"app {settings.GRAPH_CLIENT_ID} ({kind}), Graph {settings.GRAPH_BASE_URL}",
    )


def _fresh_app(findings: list[Finding]) -> Any:
    """A new msal app: the check must really ask for a token, not reuse a cached one."""
    try:
        return credential.build_app()
    except Exception as exc:  # msal raises ValueError, requests errors, OSError for a bad PEM
        findings.append(
            Finding(
                False,
                "authority",
                f"Cannot reach the authority {settings.GRAPH_AUTHORITY_HOST} "
                f"for tenant {settings.GRAPH_TENANT_ID}: {type(exc).__name__}: "
                f"{exc}. Check GRAPH_TENANT_ID and the network path.",
            )
        )
        return None


def _token(cred: credential.MsalCredential, findings: list[Finding]) -> set[str] | None:
    try:
        token = cred.get_token(settings.GRAPH_SCOPE).token
    except credential.TokenRefused as exc:
        findings.append(
            Finding(
                False,
                "token",
                f"Entra refused the token request ({exc.code}): "
                f"{exc.description} Check the app registration's client id and "
                "its secret or certificate (Certificates & secrets).",
            )
        )
        return None
    roles = _roles_claim(token)
    findings.append(Finding(True, "token", f"app-only token acquired for {settings.GRAPH_SCOPE}"))
    return roles


def _roles_claim(token: str) -> set[str]:
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return set()
    return set(claims.get("roles") or [])


def _permissions(granted: set[str]) -> list[Finding]:
    enabled = set(settings.GRAPH_FEATURES)
    if not settings.CA_EXCLUSION_GROUP_ID:
        enabled.discard("ca_exclusion")
    findings = []
    for need in NEEDS:
        if need.feature not in enabled:
            continue
        if granted.intersection((need.permission, *need.also_accepted)):
            findings.append(Finding(True, "permission", f"{need.permission}: can {need.purpose}"))
            continue
        how = CONSENT_PATH.format(app=settings.GRAPH_CLIENT_ID, perm=need.permission)
        findings.append(
            Finding(
                False,
                "permission",
                f"Missing application permission {need.permission}: the portal "
                f"cannot {need.purpose}. {how}",
            )
        )
    return findings


def _probe(cred: credential.MsalCredential, work: Any) -> tuple[Any, errors.GraphCallError | None]:
    try:
        result, _ = client.run(work, client_request_id=str(uuid.uuid4()), credential=cred)
    except errors.GraphCallError as exc:
        return None, exc
    return result, None


def _probe_tap_policy(cred: credential.MsalCredential) -> list[Finding]:
    if "tap" not in settings.GRAPH_FEATURES:
        return []
    policy, failure = _probe(cred, calls.tap_policy)
    if failure is not None:
        return [
            Finding(
                False,
                "TAP policy",
                f"Cannot read the Temporary Access Pass policy: {failure.message}",
            )
        ]
    if policy["state"] != "enabled":
        return [
            Finding(
                False,
                "TAP policy",
                "The Temporary Access Pass method is disabled. Entra admin center → "
                "Protection → Authentication methods → Policies → Temporary Access "
                "Pass → Enable, and target the users the portal serves.",
            )
        ]
    return [
        Finding(
            True,
            "TAP policy",
            f"enabled; lifetime {policy['minimumLifetimeInMinutes']}–"
            f"{policy['maximumLifetimeInMinutes']} min (default "
            f"{policy['defaultLifetimeInMinutes']}), one-time only: "
            f"{'yes' if policy['isUsableOnce'] else 'no'}",
        )
    ]


def _probe_exclusion_group(cred: credential.MsalCredential) -> list[Finding]:
    if "ca_exclusion" not in settings.GRAPH_FEATURES:
        return []
    group_id = settings.CA_EXCLUSION_GROUP_ID
    if not group_id:
        return [
            Finding(
                True,
                "exclusion group",
                "not configured (CA_EXCLUSION_GROUP_ID): temporary Conditional Access "
                "exclusions are unavailable",
            )
        ]

    async def work(s: client.Session) -> dict[str, Any]:
        return await calls.get_group(s, group_id)

    group, failure = _probe(cred, work)
    if failure is not None:
        return [
            Finding(
                False, "exclusion group", f"Cannot read the group {group_id}: {failure.message}"
            )
        ]
    if group["dynamic"]:
        return [
            Finding(
                False,
                "exclusion group",
                f"“{group['displayName']}” has dynamic membership: the portal cannot "
                "add members. Use an assigned security group.",
            )
        ]
    note = (
        (" It is role-assignable: adding members also needs RoleManagement.ReadWrite.Directory.")
        if group["isAssignableToRole"]
        else ""
    )
    return [
        Finding(
            not group["isAssignableToRole"],
            "exclusion group",
            f"“{group['displayName']}” ({group_id}) found.{note} Make sure your MFA "
            "Conditional Access policies exclude it.",
        )
    ]

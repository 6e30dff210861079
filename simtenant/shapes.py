"""JSON shapes of the Graph v1.0 resources the simulator answers with, as Microsoft documents."""

from __future__ import annotations

import datetime as dt
from typing import Any

from simtenant.state import Group, Method, RoleAssignment, TapPolicy, User, iso, now

CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#"
ROLE_NAMES = {
    "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
    "e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
    "7be44c8a-adaf-4e2a-84d6-ab2649e08a13": "Privileged Authentication Administrator",
    "c4e39bd9-1100-46d3-8c65-fb160da0071f": "Authentication Administrator",
    "729827e3-9c14-49f7-bb1b-9608f156bbb8": "Helpdesk Administrator",
    "fe930be7-5e62-47db-91af-98c3a49a38b1": "User Administrator",
    "194ae4cb-b126-40b2-bd5b-6091b380977d": "Security Administrator",
    "f2ef992c-3afb-46b9-b7cf-a126ee74c451": "Global Reader",
    "4a5d8f65-41da-4de4-8968-e035b65339cf": "Reports Reader",
}
USER_DEFAULT_PROPERTIES = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)


def user_properties(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "userPrincipalName": user.upn,
        "displayName": user.display_name,
        "givenName": user.given_name or None,
        "surname": user.surname or None,
        "accountEnabled": user.account_enabled,
        "department": user.department,
        "jobTitle": user.job_title,
        "employeeId": user.employee_id,
        "mail": user.mail,
        "mobilePhone": user.mobile_phone,
        "officeLocation": user.office_location,
        "businessPhones": [],
        "preferredLanguage": user.preferred_language,
        "onPremisesSyncEnabled": user.on_premises_sync_enabled,
        "userType": user.user_type,
    }


def user_json(user: User, select: list[str] | None) -> dict[str, Any]:
    """Raises KeyError naming an unknown $select property (Graph answers 400)."""
    props = user_properties(user)
    names = select or list(USER_DEFAULT_PROPERTIES)
    for name in names:
        if name not in props:
            raise KeyError(name)
    return {name: props[name] for name in names}


def tap_usability(method: Method, policy: TapPolicy) -> tuple[bool, str]:
    start: dt.datetime = method.data["startDateTime"]
    end = start + dt.timedelta(minutes=int(method.data["lifetimeInMinutes"]))
    current = now()
    if policy.state != "enabled":
        return False, "DisabledByPolicy"
    if method.used and method.data["isUsableOnce"]:
        return False, "OneTimeUsed"
    if current < start:
        return False, "NotYetValid"
    if current >= end:
        return False, "Expired"
    return True, "EnabledByPolicy"


def method_json(method: Method, policy: TapPolicy, *, reveal: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"@odata.type": f"#microsoft.graph.{method.type}", "id": method.id}
    d = method.data
    match method.type:
        case "passwordAuthenticationMethod":
            body.update(password=None, createdDateTime=iso(method.created))
        case "phoneAuthenticationMethod":
            body.update(
                phoneNumber=d["phoneNumber"],
                phoneType=d["phoneType"],
                smsSignInState=d.get("smsSignInState", "notConfigured"),
            )
        case "microsoftAuthenticatorAuthenticationMethod":
            body.update(
                displayName=d.get("displayName", ""),
                deviceTag=d.get("deviceTag", "SoftwareTokenActivated"),
                phoneAppVersion=d.get("phoneAppVersion", "6.8.12"),
                createdDateTime=iso(method.created),
            )
        case "softwareOathAuthenticationMethod":
            body.update(secretKey=None)
        case "fido2AuthenticationMethod":
            body.update(
                displayName=d.get("displayName", ""),
                createdDateTime=iso(method.created),
                aaGuid=d.get("aaGuid", "cb69481e-8ff7-4039-93ec-0a2729a154a8"),
                model=d.get("model", "YubiKey 5 Series"),
                attestationCertificates=[],
                attestationLevel="attested",
            )
        case "emailAuthenticationMethod":
            body.update(emailAddress=d["emailAddress"])
        case "windowsHelloForBusinessAuthenticationMethod":
            body.update(
                displayName=d.get("displayName", ""),
                createdDateTime=iso(method.created),
                keyStrength="normal",
            )
        case "temporaryAccessPassAuthenticationMethod":
            usable, reason = tap_usability(method, policy)
            body.update(
                temporaryAccessPass=method.tap_value if reveal else None,
                createdDateTime=iso(method.created),
                startDateTime=iso(d["startDateTime"]),
                lifetimeInMinutes=d["lifetimeInMinutes"],
                isUsableOnce=d["isUsableOnce"],
                isUsable=usable,
                methodUsabilityReason=reason,
            )
    return body


def tap_policy_json(policy: TapPolicy) -> dict[str, Any]:
    return {
        "@odata.context": f"{CONTEXT}authenticationMethodConfigurations/$entity",
        "@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration",
        "id": "TemporaryAccessPass",
        "state": policy.state,
        "defaultLifetimeInMinutes": policy.default_lifetime,
        "defaultLength": policy.default_length,
        "minimumLifetimeInMinutes": policy.minimum_lifetime,
        "maximumLifetimeInMinutes": policy.maximum_lifetime,
        "isUsableOnce": policy.is_usable_once,
        "includeTargets": [
            {"targetType": "group", "id": "all_users", "isRegistrationRequired": False}
        ],
        "excludeTargets": [],
    }


def role_assignment_json(assignment: RoleAssignment, *, expand: bool) -> dict[str, Any]:
    if assignment.eligible:
        body: dict[str, Any] = {
            "id": assignment.id,
            "principalId": assignment.principal_id,
            "roleDefinitionId": assignment.role_definition_id,
            "directoryScopeId": "/",
            "appScopeId": None,
            "startDateTime": "2025-01-06T09:00:00Z",
            "endDateTime": None,
            "memberType": "Direct",
            "roleEligibilityScheduleId": assignment.id,
        }
    else:
        body = {
            "id": assignment.id,
            "principalId": assignment.principal_id,
            "resourceScope": "/",
            "directoryScopeId": "/",
            "roleDefinitionId": assignment.role_definition_id,
        }
    if expand:
        body["roleDefinition"] = {
            "id": assignment.role_definition_id,
            "displayName": ROLE_NAMES.get(assignment.role_definition_id, "Custom role"),
            "templateId": assignment.role_definition_id,
            "isBuiltIn": assignment.role_definition_id in ROLE_NAMES,
            "isEnabled": True,
        }
    return body


def group_json(group: Group) -> dict[str, Any]:
    return {
        "@odata.context": f"{CONTEXT}groups/$entity",
        "id": group.id,
        "displayName": group.display_name,
        "groupTypes": ["DynamicMembership"] if group.dynamic else [],
        "isAssignableToRole": group.is_assignable_to_role,
        "mailEnabled": False,
        "securityEnabled": True,
        "membershipRule": None,
    }


def member_of_json(group: Group) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.group",
        "id": group.id,
        "displayName": group.display_name,
        "isAssignableToRole": group.is_assignable_to_role,
        "securityEnabled": True,
    }


def error_json(
    code: str, message: str, *, request_id: str, client_request_id: str
) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": now().strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id,
            },
        }
    }

"""What graphops keeps of Graph's answers: small, typed, JSON-ready (they land in
``GraphOperation.result``). Never a secret."""

from __future__ import annotations

from typing import TypedDict

# Method types by Graph's path segment (what DELETE needs) and their short names.
SEGMENT_BY_TYPE = {
    "phone": "phone_methods",
    "microsoftAuthenticator": "microsoft_authenticator_methods",
    "softwareOath": "software_oath_methods",
    "fido2": "fido2_methods",
    "email": "email_methods",
    "windowsHelloForBusiness": "windows_hello_for_business_methods",
    "temporaryAccessPass": "temporary_access_pass_methods",
}
# What the portal's "require re-register MFA" removes (as the Entra admin center button does).
REREGISTRATION_TYPES = ("phone", "microsoftAuthenticator", "softwareOath")
# Phones: alternate before mobile (Graph refuses the mobile while an alternate exists).
PHONE_ORDER = {
    "b6332ec1-7057-4abe-9331-3d72feddfe41": 0,  # alternateMobile
    "e37fc753-ff3b-4958-9484-eaa9425c82bc": 1,  # office
    "3179e48a-750b-4051-897c-87b9720928f7": 2,  # mobile
}


class UserFacts(TypedDict):
    id: str
    userPrincipalName: str
    displayName: str | None
    accountEnabled: bool | None
    department: str | None
    jobTitle: str | None
    employeeId: str | None
    mail: str | None
    onPremisesSyncEnabled: bool | None
    userType: str | None


class ManagerFacts(TypedDict):
    id: str
    displayName: str | None
    userPrincipalName: str | None
    mail: str | None


class RoleFacts(TypedDict):
    id: str  # the role definition id (for built-in roles, the template id)
    templateId: str
    displayName: str
    via: str  # "direct", "eligible", or "group:<group id>"


class MethodFacts(TypedDict, total=False):
    id: str
    type: str  # short name: phone, microsoftAuthenticator, …
    displayName: str | None
    createdDateTime: str | None
    phoneType: str | None
    phoneNumber: str | None  # as Graph returns it (it may be masked)


class TapFacts(TypedDict):
    id: str
    createdDateTime: str | None
    startDateTime: str | None
    lifetimeInMinutes: int | None
    isUsableOnce: bool | None
    isUsable: bool | None
    methodUsabilityReason: str | None


class TapPolicyFacts(TypedDict):
    state: str
    defaultLifetimeInMinutes: int | None
    defaultLength: int | None
    minimumLifetimeInMinutes: int | None
    maximumLifetimeInMinutes: int | None
    isUsableOnce: bool | None


def short_type(odata_type: str | None) -> str:
    """'#microsoft.graph.phoneAuthenticationMethod' → 'phone'."""
    name = (odata_type or "").rsplit(".", 1)[-1]
    return name.removesuffix("AuthenticationMethod") or "unknown"

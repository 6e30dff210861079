"""One async function per Graph call, through msgraph-sdk. Each takes the operation's Session
(which sets client-request-id and collects request-ids) and returns a payload from
``graphops.payloads``. Errors propagate as the SDK raises them; ``client.run`` translates."""

from __future__ import annotations

import datetime as dt
from typing import Any

from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.temporary_access_pass_authentication_method import (
    TemporaryAccessPassAuthenticationMethod,
)
from msgraph.generated.role_management.directory.role_assignments.role_assignments_request_builder import (  # noqa: E501
    RoleAssignmentsRequestBuilder,
)
from msgraph.generated.role_management.directory.role_eligibility_schedule_instances.role_eligibility_schedule_instances_request_builder import (  # noqa: E501
    RoleEligibilityScheduleInstancesRequestBuilder,
)
from msgraph.generated.users.item.transitive_member_of.transitive_member_of_request_builder import (  # noqa: E501
    TransitiveMemberOfRequestBuilder,
)
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

from graphops import errors
from graphops.client import Session
from graphops.payloads import (
    SEGMENT_BY_TYPE,
    ManagerFacts,
    MethodFacts,
    RoleFacts,
    TapFacts,
    TapPolicyFacts,
    UserFacts,
    short_type,
)

USER_FIELDS = [
    "id",
    "userPrincipalName",
    "displayName",
    "accountEnabled",
    "department",
    "jobTitle",
    "employeeId",
    "mail",
    "onPremisesSyncEnabled",
    "userType",
]
ROLE_NAME_FALLBACK = "Directory role"


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


async def get_user(s: Session, key: str) -> UserFacts:
    query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(select=USER_FIELDS)
    user = await s.client.users.by_user_id(key).get(request_configuration=s.config(query))
    if user is None:
        raise errors.Permanent("Graph answered the user lookup without a body.", code="empty")
    return UserFacts(
        id=user.id or "",
        userPrincipalName=user.user_principal_name or "",
        displayName=user.display_name,
        accountEnabled=user.account_enabled,
        department=user.department,
        jobTitle=user.job_title,
        employeeId=user.employee_id,
        mail=user.mail,
        onPremisesSyncEnabled=user.on_premises_sync_enabled,
        userType=user.user_type,
    )


async def get_manager(s: Session, user_id: str) -> ManagerFacts | None:
    """None when the user has no manager (Graph answers 404 for that, by design)."""
    try:
        manager: Any = await s.client.users.by_user_id(user_id).manager.get(
            request_configuration=s.config()
        )
    except ODataError as exc:
        if exc.response_status_code == 404:
            return None
        raise
    if manager is None:
        return None
    return ManagerFacts(
        id=manager.id or "",
        displayName=getattr(manager, "display_name", None),
        userPrincipalName=getattr(manager, "user_principal_name", None),
        mail=getattr(manager, "mail", None),
    )


async def privileged_roles(s: Session, user_id: str) -> list[RoleFacts]:
    """Every directory role the user holds: assigned, eligible (PIM), or through a
    role-assignable group. Any role counts: the portal treats the account as privileged."""
    roles = await _assignments(s, user_id, via="direct")
    roles += await _eligibilities(s, user_id)
    for group_id in await _role_assignable_groups(s, user_id):
        roles += await _assignments(s, group_id, via=f"group:{group_id}")
    return roles


async def _assignments(s: Session, principal_id: str, *, via: str) -> list[RoleFacts]:
    query = RoleAssignmentsRequestBuilder.RoleAssignmentsRequestBuilderGetQueryParameters(
        filter=f"principalId eq '{principal_id}'", expand=["roleDefinition"]
    )
    page = await s.client.role_management.directory.role_assignments.get(
        request_configuration=s.config(query)
    )
    return [_role(a, via=via) for a in (page.value if page else None) or []]


async def _eligibilities(s: Session, principal_id: str) -> list[RoleFacts]:
    builder = RoleEligibilityScheduleInstancesRequestBuilder
    query = builder.RoleEligibilityScheduleInstancesRequestBuilderGetQueryParameters(
        filter=f"principalId eq '{principal_id}'", expand=["roleDefinition"]
    )
    page = await s.client.role_management.directory.role_eligibility_schedule_instances.get(
        request_configuration=s.config(query)
    )
    return [_role(a, via="eligible") for a in (page.value if page else None) or []]


def _role(assignment: Any, *, via: str) -> RoleFacts:
    definition = getattr(assignment, "role_definition", None)
    return RoleFacts(
        id=assignment.role_definition_id or "",
        templateId=(definition.template_id if definition else None)
        or assignment.role_definition_id
        or "",
        displayName=(definition.display_name if definition else None) or ROLE_NAME_FALLBACK,
        via=via,
    )


async def _role_assignable_groups(s: Session, user_id: str) -> list[str]:
    query = TransitiveMemberOfRequestBuilder.TransitiveMemberOfRequestBuilderGetQueryParameters(
        select=["id", "displayName", "isAssignableToRole"]
    )
    page = await s.client.users.by_user_id(user_id).transitive_member_of.get(
        request_configuration=s.config(query)
    )
    return [
        g.id
        for g in (page.value if page else None) or []
        if g.id and getattr(g, "is_assignable_to_role", False)
    ]


async def list_methods(s: Session, user_id: str) -> list[MethodFacts]:
    page = await s.client.users.by_user_id(user_id).authentication.methods.get(
        request_configuration=s.config()
    )
    return [_method(m) for m in (page.value if page else None) or []]


def _method(method: Any) -> MethodFacts:
    facts = MethodFacts(
        id=method.id or "",
        type=short_type(method.odata_type),
        displayName=getattr(method, "display_name", None),
        createdDateTime=_iso(getattr(method, "created_date_time", None)),
    )
    if hasattr(method, "phone_type"):
        facts["phoneType"] = str(getattr(method.phone_type, "value", method.phone_type))
        facts["phoneNumber"] = method.phone_number
    return facts


async def list_taps(s: Session, user_id: str) -> list[TapFacts]:
    page = await s.client.users.by_user_id(
        user_id
    ).authentication.temporary_access_pass_methods.get(request_configuration=s.config())
    return [_tap(t) for t in (page.value if page else None) or []]


def _tap(tap: Any) -> TapFacts:
    return TapFacts(
        id=tap.id or "",
        createdDateTime=_iso(tap.created_date_time),
        startDateTime=_iso(tap.start_date_time),
        lifetimeInMinutes=tap.lifetime_in_minutes,
        isUsableOnce=tap.is_usable_once,
        isUsable=tap.is_usable,
        methodUsabilityReason=tap.method_usability_reason,
    )


async def create_tap(
    s: Session,
    user_id: str,
    *,
    lifetime: int | None,
    once: bool | None,
    start: dt.datetime | None,
) -> tuple[TapFacts, str]:
    """POST a TAP (replacing any current one). Not idempotent: never call it twice for one
    operation. Returns the facts and the pass itself (the caller seals it at once)."""
    body = TemporaryAccessPassAuthenticationMethod(
        lifetime_in_minutes=lifetime, is_usable_once=once, start_date_time=start
    )
    tap = await s.client.users.by_user_id(
        user_id
    ).authentication.temporary_access_pass_methods.post(body, request_configuration=s.config())
    if tap is None or not tap.temporary_access_pass:
        raise errors.Uncertain(
            "Graph accepted the Temporary Access Pass request but returned no pass. Check the "
            "user's methods in Entra before retrying.",
            code="tap_value_missing",
        )
    return _tap(tap), tap.temporary_access_pass


async def delete_method(s: Session, user_id: str, *, method_type: str, method_id: str) -> bool:
    """True if deleted, False if it was already gone (404): deleting is idempotent for us."""
    collection = getattr(
        s.client.users.by_user_id(user_id).authentication, SEGMENT_BY_TYPE[method_type]
    )
    item_builder = getattr(collection, f"by_{SEGMENT_BY_TYPE[method_type][:-1]}_id", None)
    item = item_builder(method_id) if item_builder else _by_id(collection, method_id)
    try:
        await item.delete(request_configuration=s.config())
    except ODataError as exc:
        if exc.response_status_code == 404:
            return False
        raise
    return True


def _by_id(collection: Any, method_id: str) -> Any:
    for name in dir(collection):
        if name.startswith("by_") and name.endswith("_id"):
            return getattr(collection, name)(method_id)
    raise AttributeError(f"no item builder on {type(collection).__name__}")


async def revoke_sessions(s: Session, user_id: str) -> bool:
    result = await s.client.users.by_user_id(user_id).revoke_sign_in_sessions.post(
        request_configuration=s.config()
    )
    return bool(result and result.value)


async def add_member(s: Session, group_id: str, user_id: str) -> bool:
    """True if added, False if already a member (Graph's 400 for that is success to us)."""
    ref = ReferenceCreate(odata_id=f"https://graph.microsoft.com/v1.0/directoryObjects/{user_id}")
    try:
        await s.client.groups.by_group_id(group_id).members.ref.post(
            ref, request_configuration=s.config()
        )
    except ODataError as exc:
        message = (exc.error.message if exc.error else "") or ""
        if exc.response_status_code == 400 and "already exist" in message:
            return False
        raise
    return True


async def remove_member(s: Session, group_id: str, user_id: str) -> bool:
    """True if removed, False if not a member. Always through /$ref: without it Graph would
    delete the user object itself."""
    member = s.client.groups.by_group_id(group_id).members.by_directory_object_id(user_id)
    try:
        await member.ref.delete(request_configuration=s.config())
    except ODataError as exc:
        if exc.response_status_code == 404:
            return False
        raise
    return True


async def get_group(s: Session, group_id: str) -> dict[str, Any]:
    group = await s.client.groups.by_group_id(group_id).get(request_configuration=s.config())
    if group is None:
        raise errors.Permanent("Graph answered the group lookup without a body.", code="empty")
    return {
        "id": group.id,
        "displayName": group.display_name,
        "isAssignableToRole": group.is_assignable_to_role,
        "dynamic": "DynamicMembership" in (group.group_types or []),
    }


async def tap_policy(s: Session) -> TapPolicyFacts:
    configs = s.client.policies.authentication_methods_policy.authentication_method_configurations
    policy: Any = await configs.by_authentication_method_configuration_id(
        "TemporaryAccessPass"
    ).get(request_configuration=s.config())
    state = getattr(policy, "state", None)
    return TapPolicyFacts(
        state=str(getattr(state, "value", state) or "disabled"),
        defaultLifetimeInMinutes=getattr(policy, "default_lifetime_in_minutes", None),
        defaultLength=getattr(policy, "default_length", None),
        minimumLifetimeInMinutes=getattr(policy, "minimum_lifetime_in_minutes", None),
        maximumLifetimeInMinutes=getattr(policy, "maximum_lifetime_in_minutes", None),
        isUsableOnce=getattr(policy, "is_usable_once", None),
    )

"""Graph v1.0 routes of the simulator. Each handler runs under the tenant lock."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simtenant import shapes
from simtenant.state import METHOD_SEGMENTS, PHONE_IDS, App, Tenant, User

READ_USERS = (
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
)
READ_METHODS = ("UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All")
WRITE_METHODS = ("UserAuthenticationMethod.ReadWrite.All",)
READ_ROLES = (
    "RoleManagement.Read.Directory",
    "RoleManagement.Read.All",
    "Directory.Read.All",
    "RoleManagement.ReadWrite.Directory",
)
REVOKE = ("User.RevokeSessions.All", "User.ReadWrite.All", "Directory.ReadWrite.All")
READ_GROUPS = (
    "GroupMember.Read.All",
    "GroupMember.ReadWrite.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
)
WRITE_MEMBERS = ("GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All")
READ_POLICY = (
    "Policy.Read.AuthenticationMethod",
    "Policy.Read.All",
    "Policy.ReadWrite.AuthenticationMethod",
)
POLICY_OFF = (
    "Converged UserCredentialPolicy does not allow creating or updating this authentication "
    "method. AuthMethodType [TemporaryAccessPass]."
)


@dataclass
class Reply:
    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any]
    app: App
    tenant: Tenant
    base_url: str = ""  # e.g. http://127.0.0.1:PORT/v1.0, for the @odata.nextLink of a page


Handler = Callable[..., Reply]
ROUTES: list[tuple[str, re.Pattern[str], tuple[str, ...], Handler]] = []


def route(method: str, pattern: str, permissions: tuple[str, ...]) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append((method, re.compile(f"^{pattern}$", re.IGNORECASE), permissions, handler))
        return handler

    return register


def dispatch(request: Request) -> Reply:
    allowed_methods = False
    for method, pattern, permissions, handler in ROUTES:
        match = pattern.match(request.path)
        if not match:
            continue
        allowed_methods = True
        if method != request.method:
            continue
        if not request.app.grants.intersection(permissions):
            raise GraphError(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
        return handler(request, **match.groupdict())
    if allowed_methods:
        raise GraphError(
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )
    raise GraphError(
        400, "BadRequest", f"Resource not found for the segment '{request.path.split('/')[-1]}'."
    )


def _user(request: Request, key: str) -> User:
    user = request.tenant.user(key)
    if user is None:
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            f"Resource '{key}' does not exist or one of its queried reference-property objects "
            "are not present.",
        )
    return user


def _select(request: Request) -> list[str] | None:
    raw = request.query.get("$select", "")
    return [s.strip() for s in raw.split(",") if s.strip()] or None


@route("GET", r"/users", READ_USERS)
def list_users(request: Request) -> Reply:
    top = int(request.query.get("$top", "100"))
    users = list(request.tenant.users.values())[:top]
    return Reply(
        200,
        {
            "@odata.context": f"{shapes.CONTEXT}users",
            "value": [shapes.user_json(u, _select(request)) for u in users],
        },
    )


@route("GET", r"/users/(?P<key>[^/]+)", READ_USERS)
def get_user(request: Request, key: str) -> Reply:
    user = _user(request, key)
    select = _select(request)
    try:
        body = shapes.user_json(user, select)
    except KeyError as exc:
        raise GraphError(
            400,
            "Request_BadRequest",
            f"Could not find a property named '{exc.args[0]}' on type 'microsoft.graph.user'.",
        ) from None
    context = f"users({','.join(select)})/$entity" if select else "users/$entity"
    return Reply(200, {"@odata.context": f"{shapes.CONTEXT}{context}", **body})


@route("GET", r"/users/(?P<key>[^/]+)/manager", READ_USERS)
def get_manager(request: Request, key: str) -> Reply:
    user = _user(request, key)
    manager = request.tenant.users.get(user.manager_id or "")
    if manager is None:
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            "Resource 'manager' does not exist or one of its queried reference-property objects "
            "are not present.",
        )
    body = shapes.user_json(manager, _select(request))
    return Reply(
        200,
        {
            "@odata.context": f"{shapes.CONTEXT}directoryObjects/$entity",
            "@odata.type": "#microsoft.graph.user",
            **body,
        },
    )


@route(
    "GET",
    r"/users/(?P<key>[^/]+)/(?:transitiveMemberOf|memberOf)(?:/microsoft\.graph\.group)?",
    READ_USERS,
)
def member_of(request: Request, key: str) -> Reply:
    user = _user(request, key)
    groups = [g for g in request.tenant.groups.values() if user.id in g.members]
    return Reply(
        200,
        {
            "@odata.context": f"{shapes.CONTEXT}directoryObjects",
            "value": [shapes.member_of_json(g) for g in groups],
        },
    )


def _principal_filter(request: Request) -> set[str] | None:
    raw = request.query.get("$filter", "")
    if not raw:
        return None
    ids = re.findall(r"'([0-9a-fA-F-]{36})'", raw)
    if not ids or "principalid" not in raw.replace(" ", "").lower():
        raise GraphError(400, "BadRequest", f"Invalid filter clause: {raw}")
    return {i.lower() for i in ids}


def _roles(request: Request, *, eligible: bool) -> Reply:
    wanted = _principal_filter(request)
    expand = "roledefinition" in request.query.get("$expand", "").lower()
    items = [
        shapes.role_assignment_json(a, expand=expand)
        for a in request.tenant.roles
        if a.eligible == eligible and (wanted is None or a.principal_id.lower() in wanted)
    ]
    name = "roleEligibilityScheduleInstances" if eligible else "roleAssignments"
    return Reply(
        200, {"@odata.context": f"{shapes.CONTEXT}roleManagement/directory/{name}", "value": items}
    )


@route("GET", r"/roleManagement/directory/roleAssignments", READ_ROLES)
def role_assignments(request: Request) -> Reply:
    return _roles(request, eligible=False)


@route("GET", r"/roleManagement/directory/roleEligibilityScheduleInstances", READ_ROLES)
def role_eligibilities(request: Request) -> Reply:
    return _roles(request, eligible=True)


@route("GET", r"/users/(?P<key>[^/]+)/authentication/methods", READ_METHODS)
def list_methods(request: Request, key: str) -> Reply:
    user = _user(request, key)
    policy = request.tenant.tap_policy
    return Reply(
        200,
        {
            "@odata.context": f"{shapes.CONTEXT}users('{user.id}')/authentication/methods",
            "value": [shapes.method_json(m, policy) for m in user.methods],
        },
    )


@route("GET", r"/users/(?P<key>[^/]+)/authentication/(?P<segment>\w+Methods)", READ_METHODS)
def list_typed_methods(request: Request, key: str, segment: str) -> Reply:
    user = _user(request, key)
    type_ = _segment_type(segment)
    policy = request.tenant.tap_policy
    return Reply(
        200,
        {
            "@odata.context": f"{shapes.CONTEXT}users('{user.id}')/authentication/{segment}",
            "value": [shapes.method_json(m, policy) for m in user.methods if m.type == type_],
        },
    )


def _segment_type(segment: str) -> str:
    for name, type_ in METHOD_SEGMENTS.items():
        if name.lower() == segment.lower():
            return type_
    raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")


@route(
    "DELETE",
    r"/users/(?P<key>[^/]+)/authentication/(?P<segment>\w+Methods)/(?P<mid>[^/]+)",
    WRITE_METHODS,
)
def delete_method(request: Request, key: str, segment: str, mid: str) -> Reply:
    user = _user(request, key)
    type_ = _segment_type(segment)
    method = next((m for m in user.methods if m.id == mid and m.type == type_), None)
    if method is None:
        raise GraphError(404, "itemNotFound", f"Authentication method '{mid}' was not found.")
    _refuse_protected_delete(user, method.id, type_)
    user.methods.remove(method)
    return Reply(204)


def _refuse_protected_delete(user: User, method_id: str, type_: str) -> None:
    if type_ == "passwordAuthenticationMethod":
        raise GraphError(400, "badRequest", "The password authentication method cannot be deleted.")
    others = [
        m
        for m in user.methods
        if m.id != method_id
        and m.type
        not in ("passwordAuthenticationMethod", "temporaryAccessPassAuthenticationMethod")
    ]
    if method_id == PHONE_IDS["mobile"] and any(
        m.id == PHONE_IDS["alternateMobile"] for m in others
    ):
        raise GraphError(
            400,
            "badRequest",
            "The mobile phone method cannot be deleted while an alternate mobile phone is "
            "registered.",
        )
    if method_id == user.default_method_id and others:
        raise GraphError(
            400,
            "badRequest",
            "The default authentication method cannot be deleted while other methods are "
            "registered. Change the default sign-in method first.",
        )


@route("POST", r"/users/(?P<key>[^/]+)/authentication/temporaryAccessPassMethods", WRITE_METHODS)
def create_tap(request: Request, key: str) -> Reply:
    user = _user(request, key)
    policy = request.tenant.tap_policy
    if user.user_type == "Guest":
        raise GraphError(
            400, "badRequest", "Temporary Access Pass cannot be added to an external guest user."
        )
    if policy.state != "enabled":
        raise GraphError(400, "badRequest", POLICY_OFF)
    lifetime = int(request.body.get("lifetimeInMinutes") or policy.default_lifetime)
    if not policy.minimum_lifetime <= lifetime <= policy.maximum_lifetime:
        raise GraphError(
            400,
            "badRequest",
            f"Invalid LifetimeInMinutes specified. The valid range between "
            f"{policy.minimum_lifetime} and {policy.maximum_lifetime}.",
        )
    once = request.body.get("isUsableOnce")
    once = policy.is_usable_once if once is None else bool(once)
    if policy.is_usable_once and not once:
        raise GraphError(
            400, "badRequest", "Multi-use Temporary Access Pass is not allowed by the policy."
        )
    start = request.body.get("startDateTime")
    start_at = dt.datetime.fromisoformat(start.replace("Z", "+00:00")) if start else None
    method = request.tenant.issue_tap(user, lifetime=lifetime, usable_once=once, start=start_at)
    body = shapes.method_json(method, policy, reveal=True)
    body["@odata.context"] = (
        f"{shapes.CONTEXT}users('{user.id}')/authentication/temporaryAccessPassMethods/$entity"
    )
    return Reply(
        201,
        body,
        {
            "Location": f"/v1.0/users/{user.id}/authentication/"
            f"temporaryAccessPassMethods/{method.id}"
        },
    )


@route("POST", r"/users/(?P<key>[^/]+)/revokeSignInSessions", REVOKE)
def revoke_sessions(request: Request, key: str) -> Reply:
    user = _user(request, key)
    user.sessions_revoked_at.append(dt.datetime.now(dt.UTC))
    return Reply(200, {"@odata.context": f"{shapes.CONTEXT}Edm.Boolean", "value": True})


def _group(request: Request, gid: str) -> Any:
    group = request.tenant.groups.get(gid.lower())
    if group is None:
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            f"Resource '{gid}' does not exist or one of its queried reference-property objects "
            "are not present.",
        )
    return group


@route("GET", r"/groups/(?P<gid>[^/]+)", READ_GROUPS)
def get_group(request: Request, gid: str) -> Reply:
    return Reply(200, shapes.group_json(_group(request, gid)))


@route("GET", r"/groups/(?P<gid>[^/]+)/members", READ_GROUPS)
def list_members(request: Request, gid: str) -> Reply:
    group = _group(request, gid)
    members = [request.tenant.users[m] for m in sorted(group.members) if m in request.tenant.users]
    return Reply(
        200,
        {
            "@odata.context": f"{shapes.CONTEXT}directoryObjects",
            "value": [
                {
                    "@odata.type": "#microsoft.graph.user",
                    **shapes.user_json(u, ["id", "userPrincipalName"]),
                }
                for u in members
            ],
        },
    )


@route("POST", r"/groups/(?P<gid>[^/]+)/members/\$ref", WRITE_MEMBERS)
def add_member(request: Request, gid: str) -> Reply:
    group = _group(request, gid)
    ref = str(request.body.get("@odata.id", ""))
    user = _user(request, ref.rstrip("/").rsplit("/", 1)[-1]) if ref else None
    if user is None:
        raise GraphError(400, "Request_BadRequest", "Missing '@odata.id' in the request body.")
    if user.id in group.members:
        raise GraphError(
            400,
            "Request_BadRequest",
            "One or more added object references already exist for the following modified "
            "properties: 'members'.",
        )
    group.members.add(user.id)
    return Reply(204)


@route("DELETE", r"/groups/(?P<gid>[^/]+)/members/(?P<uid>[^/]+)/\$ref", WRITE_MEMBERS)
def remove_member(request: Request, gid: str, uid: str) -> Reply:
    group = _group(request, gid)
    if uid.lower() not in group.members:
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            f"Resource '{uid}' does not exist or one of its queried reference-property objects "
            "are not present.",
        )
    group.members.discard(uid.lower())
    return Reply(204)


@route(
    "GET",
    r"/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/(?P<cid>[^/]+)",
    READ_POLICY,
)
def get_method_configuration(request: Request, cid: str) -> Reply:
    if cid.lower() != "temporaryaccesspass":
        raise GraphError(404, "NotFound", f"Authentication method configuration '{cid}' not found.")
    return Reply(200, shapes.tap_policy_json(request.tenant.tap_policy))

"""The tenant's directory audit log: a ``directoryAudit`` record for every change it serves, and
``GET /auditLogs/directoryAudits`` as Graph serves it (``$filter``, ``$top``, ``$orderby``,
``@odata.nextLink``).

Who made a change is kept as Entra keeps it: an app for a Graph call (``initiatedBy.app``), a
person for what happens in the admin center or on the user's own security-info page
(``initiatedBy.user``; ``act_as_admin`` and ``record_user_registration``, driven by the control
API). Like Entra's, the log lags: an entry is listed only ``delay_seconds`` after it happened,
some entries can be made to arrive later still (out of order) or to be listed twice, and a page
holds at most ``page_size`` entries whatever ``$top`` asks (``AuditLogSettings``).

Activity names follow Entra's: "Admin registered security info" ("Admin registered temporary
access pass method for user"), "Admin deleted security info", "User registered security info"
(service "Authentication Methods"); "Invalidate all refresh tokens for user", "Reset user
password", "Add member to group", "Remove member from group" (service "Core Directory").
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from simtenant import shapes
from simtenant.graph import GraphError, Reply, Request, route
from simtenant.state import AuditEntry, Group, Method, Tenant, User, now

READ_AUDIT = ("AuditLog.Read.All",)
AUTH_METHODS = "Authentication Methods"
CORE_DIRECTORY = "Core Directory"
# Method labels as Entra's audit entries name them, by Graph path segment and by odata type.
LABEL_BY_SEGMENT = {
    "temporaryaccesspassmethods": "temporary access pass",
    "phonemethods": "Phone",
    "microsoftauthenticatormethods": "Authenticator App",
    "softwareoathmethods": "Software OATH token",
    "fido2methods": "FIDO2 security key",
    "emailmethods": "Email",
    "windowshelloforbusinessmethods": "Windows Hello for Business",
}
LABEL_BY_TYPE = {
    "temporaryAccessPassAuthenticationMethod": "temporary access pass",
    "phoneAuthenticationMethod": "Phone",
    "microsoftAuthenticatorAuthenticationMethod": "Authenticator App",
    "softwareOathAuthenticationMethod": "Software OATH token",
    "fido2AuthenticationMethod": "FIDO2 security key",
    "emailAuthenticationMethod": "Email",
    "windowsHelloForBusinessAuthenticationMethod": "Windows Hello for Business",
}
DEFAULT_ADMIN = "david.chen"  # the seeded Global Administrator
MAX_TOP = 1000


def graph_time(moment: dt.datetime) -> str:
    """Graph's form: UTC, seven fractional digits, 'Z'."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


# --- Recording -------------------------------------------------------------------------------


def app_initiator(tenant: Tenant, client_id: str) -> dict[str, Any]:
    app = tenant.apps.get(client_id)
    return {
        "app": {
            "appId": client_id,
            "displayName": app.display_name if app else None,
            "servicePrincipalId": app.service_principal_id if app else None,
            "servicePrincipalName": None,
        },
        "user": None,
    }


def user_initiator(user: User, *, ip: str = "192.0.2.10") -> dict[str, Any]:
    return {
        "app": None,
        "user": {
            "id": user.id,
            "displayName": None,
            "userPrincipalName": user.upn,
            "ipAddress": ip,
            "userType": None,
            "homeTenantId": None,
            "homeTenantName": None,
        },
    }


def user_target(user: User, *, modified: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": user.id,
        "displayName": None,
        "type": "User",
        "userPrincipalName": user.upn,
        "groupType": None,
        "modifiedProperties": modified or [],
    }


def group_target(group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "displayName": group.display_name,
        "type": "Group",
        "userPrincipalName": None,
        "groupType": "azureAD",
        "modifiedProperties": [],
    }


def record(
    tenant: Tenant,
    *,
    activity: str,
    service: str,
    category: str,
    operation_type: str,
    initiated_by: dict[str, Any],
    targets: list[dict[str, Any]],
    result_reason: str,
    correlation_id: str = "",
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Append one entry (under the tenant lock), visible after the configured delays."""
    settings = tenant.audit_settings
    happened = at or now()
    correlation_id = correlation_id or str(uuid.uuid4())
    entry = {
        "id": f"{service.replace(' ', '')}_{correlation_id}_{uuid.uuid4().hex[:12].upper()}",
        "category": category,
        "correlationId": correlation_id,
        "result": "success",
        "resultReason": result_reason,
        "activityDisplayName": activity,
        "activityDateTime": graph_time(happened),
        "loggedByService": service,
        "operationType": operation_type,
        "initiatedBy": initiated_by,
        "targetResources": targets,
        "additionalDetails": [],
    }
    delay = settings.delay_seconds
    if settings.late_next > 0:
        settings.late_next -= 1
        delay += settings.late_by_seconds
    copies = 1
    if settings.duplicate_next > 0:
        settings.duplicate_next -= 1
        copies = 2
    visible = happened + dt.timedelta(seconds=delay)
    tenant.audit_entries.append(AuditEntry(entry, happened, visible, copies))
    return entry


def _correlation(tenant: Tenant, *, request_id: str, client_request_id: str) -> str:
    chosen = tenant.audit_settings.correlation
    if chosen == "request-id":
        return request_id
    if chosen == "client-request-id" and client_request_id:
        return client_request_id
    return str(uuid.uuid4())


_TAP_POST = re.compile(r"^/users/(?P<key>[^/]+)/authentication/temporaryAccessPassMethods$", re.I)
_METHOD_DELETE = re.compile(
    r"^/users/(?P<key>[^/]+)/authentication/(?P<segment>\w+Methods)/[^/]+$", re.I
)
_REVOKE = re.compile(r"^/users/(?P<key>[^/]+)/revokeSignInSessions$", re.I)
_ADD_MEMBER = re.compile(r"^/groups/(?P<gid>[^/]+)/members/\$ref$", re.I)
_REMOVE_MEMBER = re.compile(r"^/groups/(?P<gid>[^/]+)/members/(?P<uid>[^/]+)/\$ref$", re.I)


def after_graph_call(
    request: Request, reply: Reply, *, request_id: str, client_request_id: str
) -> None:
    """Record what a served Graph write changed (under the tenant lock). Reads and refusals
    change nothing, and are not in the log."""
    if request.method == "GET" or not 200 <= reply.status < 300:
        return
    tenant = request.tenant
    common = {
        "initiated_by": app_initiator(tenant, request.app.client_id),
        "correlation_id": _correlation(
            tenant, request_id=request_id, client_request_id=client_request_id
        ),
    }
    for pattern, recorder in _RECORDERS:
        match = pattern.match(request.path)
        if match and (request.method, pattern) in _METHODS:
            recorder(request, match.groupdict(), common)
            return


def _user_of(tenant: Tenant, key: str) -> User:
    user = tenant.user(key)
    if user is None:
        raise LookupError(key)
    return user


def _tap_issued(request: Request, found: dict[str, str], common: dict[str, Any]) -> None:
    user = _user_of(request.tenant, found["key"])
    record(
        request.tenant,
        activity="Admin registered security info",
        service=AUTH_METHODS,
        category="UserManagement",
        operation_type="Add",
        targets=[user_target(user)],
        result_reason="Admin registered temporary access pass method for user",
        **common,
    )


def _method_deleted(request: Request, found: dict[str, str], common: dict[str, Any]) -> None:
    user = _user_of(request.tenant, found["key"])
    label = LABEL_BY_SEGMENT.get(found["segment"].lower(), "unknown")
    record(
        request.tenant,
        activity="Admin deleted security info",
        service=AUTH_METHODS,
        category="UserManagement",
        operation_type="Delete",
        targets=[user_target(user)],
        result_reason=f"Admin deleted {label} method for user",
        **common,
    )


def _sessions_revoked(request: Request, found: dict[str, str], common: dict[str, Any]) -> None:
    user = _user_of(request.tenant, found["key"])
    record(
        request.tenant,
        activity="Invalidate all refresh tokens for user",
        service=CORE_DIRECTORY,
        category="UserManagement",
        operation_type="Update",
        targets=[user_target(user)],
        result_reason="",
        **common,
    )


def _membership(activity: str) -> Callable[[Request, dict[str, str], dict[str, Any]], None]:
    def recorder(request: Request, found: dict[str, str], common: dict[str, Any]) -> None:
        tenant = request.tenant
        group = tenant.groups[found["gid"].lower()]
        member = found.get("uid") or str(request.body.get("@odata.id", "")).rsplit("/", 1)[-1]
        record(
            tenant,
            activity=activity,
            service=CORE_DIRECTORY,
            category="GroupManagement",
            operation_type="Assign" if activity.startswith("Add") else "Unassign",
            targets=[membership_target(_user_of(tenant, member), group), group_target(group)],
            result_reason="",
            **common,
        )

    return recorder


def membership_target(user: User, group: Group) -> dict[str, Any]:
    """The member, with the group in its modified properties (as Entra writes it)."""
    modified = [
        {"displayName": "Group.ObjectID", "oldValue": None, "newValue": f'"{group.id}"'},
        {
            "displayName": "Group.DisplayName",
            "oldValue": None,
            "newValue": f'"{group.display_name}"',
        },
    ]
    return user_target(user, modified=modified)


_RECORDERS = (
    (_TAP_POST, _tap_issued),
    (_REVOKE, _sessions_revoked),
    (_ADD_MEMBER, _membership("Add member to group")),
    (_REMOVE_MEMBER, _membership("Remove member from group")),
    (_METHOD_DELETE, _method_deleted),
)
_METHODS = {
    ("POST", _TAP_POST),
    ("POST", _REVOKE),
    ("POST", _ADD_MEMBER),
    ("DELETE", _REMOVE_MEMBER),
    ("DELETE", _METHOD_DELETE),
}


def record_user_registration(tenant: Tenant, user: User, method: Method) -> dict[str, Any]:
    """The user added a method on their own security-info page (after a TAP sign-in, say)."""
    label = LABEL_BY_TYPE.get(method.type, "method")
    return record(
        tenant,
        activity="User registered security info",
        service=AUTH_METHODS,
        category="UserManagement",
        operation_type="Add",
        initiated_by=user_initiator(user),
        targets=[user_target(user)],
        result_reason=f"User registered {label}",
    )


# --- Acting as an administrator in the admin center (the control API) -----------------------


def act_as_admin(tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    """Make a change as a person in the Entra admin center would, outside any portal: the
    entry names that person (``admin``, the seeded Global Administrator by default).

    ``{"action": "issue_tap" | "delete_method" | "revoke_sessions" | "reset_password" |
    "add_member" | "remove_member", "user": upn, "admin": upn?, "method_id"?, "group_id"?,
    "lifetime_minutes"?}``. Answers the entry's id and correlationId (and the TAP's id).
    """
    admin = _user_of(tenant, body.get("admin") or _default_admin(tenant))
    user = _user_of(tenant, body["user"])
    action = body["action"]
    answer: dict[str, Any] = {}
    initiated = user_initiator(admin, ip="198.51.100.7")
    if action == "issue_tap":
        policy = tenant.tap_policy
        lifetime = int(body.get("lifetime_minutes") or policy.default_lifetime)
        tap = tenant.issue_tap(
            user, lifetime=lifetime, usable_once=policy.is_usable_once, start=None
        )
        answer["tap_id"] = tap.id
        entry = _admin_entry(
            tenant,
            user,
            initiated,
            "Admin registered security info",
            "Add",
            "Admin registered temporary access pass method for user",
        )
    elif action == "delete_method":
        method = next(m for m in user.methods if m.id == body["method_id"])
        if method.type == "passwordAuthenticationMethod":
            raise ValueError("the password method cannot be deleted")
        user.methods.remove(method)
        label = LABEL_BY_TYPE.get(method.type, "unknown")
        entry = _admin_entry(
            tenant,
            user,
            initiated,
            "Admin deleted security info",
            "Delete",
            f"Admin deleted {label} method for user",
        )
    else:
        entry = _directory_action(tenant, action, user=user, initiated=initiated, body=body)
    return {**answer, "event_id": entry["id"], "correlation_id": entry["correlationId"]}


def _default_admin(tenant: Tenant) -> str:
    return next(
        (u.upn for u in tenant.users.values() if u.upn.startswith(f"{DEFAULT_ADMIN}@")),
        DEFAULT_ADMIN,
    )


def _admin_entry(
    tenant: Tenant,
    user: User,
    initiated: dict[str, Any],
    activity: str,
    operation: str,
    reason: str,
) -> dict[str, Any]:
    return record(
        tenant,
        activity=activity,
        service=AUTH_METHODS,
        category="UserManagement",
        operation_type=operation,
        initiated_by=initiated,
        targets=[user_target(user)],
        result_reason=reason,
    )


def _directory_action(
    tenant: Tenant, action: str, *, user: User, initiated: dict[str, Any], body: dict[str, Any]
) -> dict[str, Any]:
    common: dict[str, Any] = {
        "service": CORE_DIRECTORY,
        "initiated_by": initiated,
        "result_reason": "",
    }
    if action == "revoke_sessions":
        user.sessions_revoked_at.append(now())
        return record(
            tenant,
            activity="Invalidate all refresh tokens for user",
            category="UserManagement",
            operation_type="Update",
            targets=[user_target(user)],
            **common,
        )
    if action == "reset_password":
        return record(
            tenant,
            activity="Reset user password",
            category="UserManagement",
            operation_type="Update",
            targets=[user_target(user)],
            **common,
        )
    if action in ("add_member", "remove_member"):
        group = tenant.groups[str(body["group_id"]).lower()]
        adding = action == "add_member"
        (group.members.add if adding else group.members.discard)(user.id)
        return record(
            tenant,
            activity="Add member to group" if adding else "Remove member from group",
            category="GroupManagement",
            operation_type="Assign" if adding else "Unassign",
            targets=[membership_target(user, group), group_target(group)],
            **common,
        )
    raise ValueError(f"unknown admin action {action!r}")


# --- Listing: GET /auditLogs/directoryAudits -------------------------------------------------


_STRING_FIELDS = {
    "id": lambda r: r["id"],
    "category": lambda r: r["category"],
    "activitydisplayname": lambda r: r["activityDisplayName"],
    "loggedbyservice": lambda r: r["loggedByService"],
    "correlationid": lambda r: r["correlationId"],
    "result": lambda r: r["result"],
    "initiatedby/user/id": lambda r: (r["initiatedBy"]["user"] or {}).get("id"),
    "initiatedby/user/userprincipalname": lambda r: (r["initiatedBy"]["user"] or {}).get(
        "userPrincipalName"
    ),
    "initiatedby/app/appid": lambda r: (r["initiatedBy"]["app"] or {}).get("appId"),
}
_TIME_CLAUSE = re.compile(r"^activityDateTime\s+(?P<op>ge|le|eq)\s+(?P<value>\S+)$", re.I)
_EQ_CLAUSE = re.compile(r"^(?P<field>[\w/]+)\s+eq\s+'(?P<value>(?:[^']|'')*)'$", re.I)
_STARTSWITH = re.compile(
    r"^startswith\(\s*(?P<field>[\w/]+)\s*,\s*'(?P<value>(?:[^']|'')*)'\s*\)$", re.I
)
_TARGET_ANY = re.compile(
    r"^targetResources/any\(\s*(?P<v>\w+)\s*:\s*(?P=v)/id\s+eq\s+'(?P<value>[^']*)'\s*\)$", re.I
)
Predicate = Callable[[AuditEntry], bool]


def _bad_filter(raw: str) -> GraphError:
    return GraphError(400, "BadRequest", f"Invalid filter clause: {raw}")


def _time_value(raw: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _bad_filter(raw) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _clause(raw: str) -> Predicate:
    clause = raw.strip()
    if m := _TIME_CLAUSE.match(clause):
        moment, op = _time_value(m["value"]), m["op"].lower()
        compare: dict[str, Predicate] = {
            "ge": lambda e: e.activity_at >= moment,
            "le": lambda e: e.activity_at <= moment,
            "eq": lambda e: e.activity_at == moment,
        }
        return compare[op]
    if m := _TARGET_ANY.match(clause):
        wanted = m["value"].lower()
        return lambda e: any(
            str(t.get("id", "")).lower() == wanted for t in e.record["targetResources"]
        )
    for pattern, test in ((_EQ_CLAUSE, str.__eq__), (_STARTSWITH, str.startswith)):
        if (m := pattern.match(clause)) and m["field"].lower() in _STRING_FIELDS:
            read, value = _STRING_FIELDS[m["field"].lower()], m["value"].replace("''", "'")
            return lambda e, read=read, value=value, test=test: test(str(read(e.record)), value)  # type: ignore[misc]
    raise _bad_filter(raw)


def parse_filter(raw: str) -> list[Predicate]:
    """The ``and`` of supported clauses; anything else (``or``, unknown fields) is a 400."""
    if not raw.strip():
        return []
    if re.search(r"\s+or\s+", raw, re.I):
        raise _bad_filter(raw)
    return [_clause(part) for part in re.split(r"\s+and\s+", raw.strip(), flags=re.I)]


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def _offset(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        return int(json.loads(base64.urlsafe_b64decode(padded))["o"])
    except (ValueError, KeyError, TypeError):
        raise GraphError(400, "BadRequest", "Invalid $skiptoken.") from None


def _top(request: Request) -> int:
    raw = request.query.get("$top", "")
    if not raw:
        return 100
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_TOP:
        raise GraphError(400, "BadRequest", f"Invalid $top value: {raw} (1–{MAX_TOP}).")
    return int(raw)


def _ascending(request: Request) -> bool:
    order = request.query.get("$orderby", "activityDateTime desc").strip().lower()
    if order not in ("activitydatetime", "activitydatetime asc", "activitydatetime desc"):
        raise GraphError(400, "BadRequest", f"Invalid $orderby: {order}")
    return order != "activitydatetime desc"


@route("GET", r"/auditLogs/directoryAudits", READ_AUDIT)
def list_directory_audits(request: Request) -> Reply:
    tenant = request.tenant
    if not tenant.audit_settings.premium:
        raise GraphError(
            403,
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "Neither tenant is B2C or tenant doesn't have premium license",
        )
    predicates = parse_filter(request.query.get("$filter", ""))
    size = min(_top(request), max(1, tenant.audit_settings.page_size))
    ascending = _ascending(request)
    offset = _offset(request.query["$skiptoken"]) if "$skiptoken" in request.query else 0
    current = now()
    listed = sorted(
        (e for e in tenant.audit_entries if e.visible_at <= current),
        key=lambda e: (e.activity_at, e.record["id"]),
        reverse=not ascending,
    )
    records = [e.record for e in listed if all(p(e) for p in predicates) for _ in range(e.copies)]
    body: dict[str, Any] = {
        "@odata.context": f"{shapes.CONTEXT}auditLogs/directoryAudits",
        "value": records[offset : offset + size],
    }
    if offset + size < len(records):
        query = {k: v for k, v in request.query.items() if k != "$skiptoken"}
        query["$skiptoken"] = _token(offset + size)
        body["@odata.nextLink"] = f"{request.base_url}/auditLogs/directoryAudits?{urlencode(query)}"
    return Reply(200, body)


def entries_view(tenant: Tenant) -> list[dict[str, Any]]:
    """Every entry with when it becomes visible (the control API's view)."""
    return [
        {**e.record, "_visibleAt": graph_time(e.visible_at), "_copies": e.copies}
        for e in tenant.audit_entries
    ]

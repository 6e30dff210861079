"""The simulated tenant's state: directory objects, methods, policy, faults. Guarded by one lock."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from simtenant import defaults

GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
PHONE_IDS = {
    "mobile": "3179e48a-750b-4051-897c-87b9720928f7",
    "alternateMobile": "b6332ec1-7057-4abe-9331-3d72feddfe41",
    "office": "e37fc753-ff3b-4958-9484-eaa9425c82bc",
}
PASSWORD_METHOD_ID = "28c10230-6103-485e-b985-444c60001490"  # noqa: S105 - an id
# Segment of /authentication/{segment} → odata type name.
METHOD_SEGMENTS = {
    "phoneMethods": "phoneAuthenticationMethod",
    "microsoftAuthenticatorMethods": "microsoftAuthenticatorAuthenticationMethod",
    "softwareOathMethods": "softwareOathAuthenticationMethod",
    "fido2Methods": "fido2AuthenticationMethod",
    "emailMethods": "emailAuthenticationMethod",
    "windowsHelloForBusinessMethods": "windowsHelloForBusinessAuthenticationMethod",
    "temporaryAccessPassMethods": "temporaryAccessPassAuthenticationMethod",
    "passwordMethods": "passwordAuthenticationMethod",
}
DEFAULT_GRANTS = (
    "User.Read.All",
    "RoleManagement.Read.Directory",
    "UserAuthenticationMethod.ReadWrite.All",
    "Policy.Read.AuthenticationMethod",
    "User.RevokeSessions.All",
    "GroupMember.ReadWrite.All",
    "AuditLog.Read.All",
)
TAP_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789+-@#$%&*"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Method:
    id: str
    type: str  # odata type name without the namespace, e.g. "phoneAuthenticationMethod"
    created: dt.datetime
    data: dict[str, Any] = field(default_factory=dict)
    tap_value: str = field(default="", repr=False)
    used: bool = False


@dataclass
class User:
    id: str
    upn: str
    display_name: str
    given_name: str = ""
    surname: str = ""
    account_enabled: bool = True
    department: str | None = None
    job_title: str | None = None
    employee_id: str | None = None
    mobile_phone: str | None = None
    office_location: str | None = None
    preferred_language: str | None = None
    on_premises_sync_enabled: bool | None = None
    user_type: str = "Member"
    manager_id: str | None = None
    default_method_id: str | None = None
    methods: list[Method] = field(default_factory=list)
    sessions_revoked_at: list[dt.datetime] = field(default_factory=list)
    taps_issued: int = 0

    @property
    def mail(self) -> str | None:
        return None if self.user_type == "Guest" else self.upn


@dataclass
class Group:
    id: str
    display_name: str
    members: set[str] = field(default_factory=set)
    is_assignable_to_role: bool = False
    dynamic: bool = False


@dataclass
class RoleAssignment:
    id: str
    principal_id: str
    role_definition_id: str
    eligible: bool = False


@dataclass
class TapPolicy:
    state: str = "enabled"
    default_lifetime: int = 60
    default_length: int = 8
    minimum_lifetime: int = 60
    maximum_lifetime: int = 480
    is_usable_once: bool = False


@dataclass
class App:
    client_id: str
    secret: str | None
    certificate_pem: bytes | None = None
    grants: set[str] = field(default_factory=lambda: set(DEFAULT_GRANTS))
    display_name: str = "Recovery Portal"

    @property
    def service_principal_id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"serviceprincipal:{self.client_id}"))


@dataclass
class AuditEntry:
    """One directoryAudit record, listed from ``visible_at`` on (Entra's log lags)."""

    record: dict[str, Any]
    activity_at: dt.datetime
    visible_at: dt.datetime
    copies: int = 1  # listed this many times (Graph has been seen to repeat an entry)


@dataclass
class AuditLogSettings:
    """How the simulated audit log behaves (``/_sim/audit-log``)."""

    delay_seconds: float = 0.0  # every entry becomes visible this long after it happened
    page_size: int = 100  # the most entries one page holds, whatever $top asks
    # What an entry's correlationId is for a Graph call: the caller's client-request-id, the
    # request-id Graph answered with, or a fresh id (Microsoft does not document which).
    correlation: str = "client-request-id"
    late_next: int = 0  # the next N entries arrive late_by_seconds after the others
    late_by_seconds: float = 0.0
    duplicate_next: int = 0  # the next N entries are listed twice
    premium: bool = True  # without Entra ID P1/P2 Graph refuses to list the audit log


@dataclass
class Fault:
    """Answer the next ``count`` matching Graph requests with ``status`` (or delay them)."""

    status: int = 0
    count: int = 1
    retry_after: int | None = None
    delay_seconds: float = 0.0
    # Act first, then stall and/or answer ``status``: the write happened, the caller can't know.
    delay_after_action: bool = False
    method: str = ""
    path_contains: str = ""

    def matches(self, method: str, path: str) -> bool:
        if self.count <= 0:
            return False
        return (not self.method or self.method == method) and self.path_contains in path


@dataclass
class RequestRecord:
    method: str
    path: str
    status: int
    client_request_id: str
    at: str


class Tenant:
    def __init__(self, *, tenant_id: str = defaults.SIM_TENANT_ID) -> None:
        self.lock = threading.RLock()
        self.tenant_id = tenant_id
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.users: dict[str, User] = {}
            self.groups: dict[str, Group] = {}
            self.roles: list[RoleAssignment] = []
            self.tap_policy = TapPolicy()
            self.apps: dict[str, App] = {}
            self.tokens: dict[str, tuple[str, dt.datetime]] = {}  # token → (client_id, expiry)
            self.faults: list[Fault] = []
            self.reject_tokens = False
            self.token_endpoint_down = False
            self.requests: list[RequestRecord] = []
            self.audit_entries: list[AuditEntry] = []
            self.audit_settings = AuditLogSettings()

    # --- lookups -------------------------------------------------------------------------
    def user(self, key: str) -> User | None:
        key = key.lower()
        if key in self.users:
            return self.users[key]
        return next((u for u in self.users.values() if u.upn.lower() == key), None)

    def add_user(self, user: User) -> User:
        self.users[user.id] = user
        user.methods.insert(0, Method(PASSWORD_METHOD_ID, "passwordAuthenticationMethod", now()))
        return user

    def add_method(
        self, user: User, type_: str, *, created: dt.datetime | None = None, **data: Any
    ) -> Method:
        method_id = data.pop("id", None) or str(uuid.uuid4())
        method = Method(method_id, type_, created or now(), data)
        user.methods.append(method)
        if user.default_method_id is None and type_ in (
            "phoneAuthenticationMethod",
            "microsoftAuthenticatorAuthenticationMethod",
        ):
            user.default_method_id = method.id
        return method

    def tap_of(self, user: User) -> Method | None:
        return next(
            (m for m in user.methods if m.type == "temporaryAccessPassAuthenticationMethod"), None
        )

    # --- writes --------------------------------------------------------------------------
    def issue_tap(
        self, user: User, *, lifetime: int, usable_once: bool, start: dt.datetime | None
    ) -> Method:
        """One TAP per user: a new one replaces the current pass (Graph's documented rule)."""
        user.methods = [
            m for m in user.methods if m.type != "temporaryAccessPassAuthenticationMethod"
        ]
        value = "".join(secrets.choice(TAP_ALPHABET) for _ in range(self.tap_policy.default_length))
        created = now()
        method = Method(
            str(uuid.uuid4()),
            "temporaryAccessPassAuthenticationMethod",
            created,
            {
                "startDateTime": start or created,
                "lifetimeInMinutes": lifetime,
                "isUsableOnce": usable_once,
            },
            tap_value=value,
        )
        user.methods.append(method)
        user.taps_issued += 1
        return method

    def take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                fault.count -= 1
                return fault
        return None

    # --- views for the control API --------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "users": {u.upn: self.user_view(u) for u in self.users.values()},
            "groups": {
                g.id: {"displayName": g.display_name, "members": sorted(g.members)}
                for g in self.groups.values()
            },
            "tap_policy": self.tap_policy.__dict__,
            "grants": {a.client_id: sorted(a.grants) for a in self.apps.values()},
            "faults": [f.__dict__ for f in self.faults if f.count > 0],
            "reject_tokens": self.reject_tokens,
            "requests": [r.__dict__ for r in self.requests[-500:]],
        }

    def user_view(self, user: User) -> dict[str, Any]:
        tap = self.tap_of(user)
        return {
            "id": user.id,
            "upn": user.upn,
            "manager_id": user.manager_id,
            "default_method_id": user.default_method_id,
            "methods": [
                {"id": m.id, "type": m.type, "created": iso(m.created)} for m in user.methods
            ],
            "tap": None
            if tap is None
            else {
                "id": tap.id,
                "created": iso(tap.created),
                "value_sha256": hashlib.sha256(tap.tap_value.encode()).hexdigest(),
                "used": tap.used,
            },
            "taps_issued": user.taps_issued,
            "sessions_revoked": [iso(t) for t in user.sessions_revoked_at],
        }

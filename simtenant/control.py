"""The control API (``/_sim/...``, no token needed): state inspection and fault injection for
tests and demos. Never part of Graph; the portal itself does not call it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from simtenant import audit_log, seed
from simtenant.graph import Reply
from simtenant.state import App, AuditLogSettings, Fault, Tenant, User, now

METHOD_TYPES = {
    "phone": "phoneAuthenticationMethod",
    "microsoftAuthenticator": "microsoftAuthenticatorAuthenticationMethod",
    "softwareOath": "softwareOathAuthenticationMethod",
    "fido2": "fido2AuthenticationMethod",
    "email": "emailAuthenticationMethod",
    "windowsHelloForBusiness": "windowsHelloForBusinessAuthenticationMethod",
}
POLICY_FIELDS = {
    "state": "state",
    "defaultLifetimeInMinutes": "default_lifetime",
    "defaultLength": "default_length",
    "minimumLifetimeInMinutes": "minimum_lifetime",
    "maximumLifetimeInMinutes": "maximum_lifetime",
    "isUsableOnce": "is_usable_once",
}


class Control:
    def __init__(self, tenant: Tenant, *, client_id: str, client_secret: str | None) -> None:
        self.tenant = tenant
        self.client_id = client_id
        self.client_secret = client_secret
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., Reply]]] = [
            ("GET", re.compile(r"^/_sim/health$"), self.health),
            ("GET", re.compile(r"^/_sim/state$"), self.state),
            ("POST", re.compile(r"^/_sim/reset$"), self.reset),
            ("POST", re.compile(r"^/_sim/faults$"), self.add_fault),
            ("DELETE", re.compile(r"^/_sim/faults$"), self.clear_faults),
            ("POST", re.compile(r"^/_sim/tokens$"), self.tokens),
            ("PATCH", re.compile(r"^/_sim/tap-policy$"), self.tap_policy),
            ("POST", re.compile(r"^/_sim/permissions$"), self.permissions),
            ("POST", re.compile(r"^/_sim/apps$"), self.add_app),
            ("GET", re.compile(r"^/_sim/requests$"), self.requests),
            ("POST", re.compile(r"^/_sim/users$"), self.add_user),
            ("GET", re.compile(r"^/_sim/users/(?P<upn>[^/]+)$"), self.user),
            ("POST", re.compile(r"^/_sim/users/(?P<upn>[^/]+)/methods$"), self.register_method),
            ("POST", re.compile(r"^/_sim/users/(?P<upn>[^/]+)/tap$"), self.tap_event),
            ("POST", re.compile(r"^/_sim/admin-center$"), self.admin_center),
            ("GET", re.compile(r"^/_sim/audit-log$"), self.audit_log),
            ("PATCH", re.compile(r"^/_sim/audit-log$"), self.audit_log_settings),
        ]

    def handle(self, method: str, path: str, body: dict[str, Any]) -> Reply:
        for verb, pattern, handler in self.routes:
            match = pattern.match(path)
            if match and verb == method:
                with self.tenant.lock:
                    return handler(body, **match.groupdict())
        return Reply(404, {"error": f"no control route {method} {path}"})

    def _user(self, upn: str) -> User:
        user = self.tenant.user(upn)
        if user is None:
            raise LookupError(upn)
        return user

    def health(self, body: dict[str, Any]) -> Reply:
        return Reply(200, {"ok": True, "tenant_id": self.tenant.tenant_id})

    def state(self, body: dict[str, Any]) -> Reply:
        return Reply(200, self.tenant.snapshot())

    def reset(self, body: dict[str, Any]) -> Reply:
        seed.apply(
            self.tenant,
            seed=body.get("seed", "demo"),
            client_id=self.client_id,
            client_secret=self.client_secret,
        )
        return Reply(200, {"ok": True})

    def add_fault(self, body: dict[str, Any]) -> Reply:
        names = {f.name for f in dataclasses.fields(Fault)}
        self.tenant.faults.append(Fault(**{k: v for k, v in body.items() if k in names}))
        return Reply(201, {"faults": len(self.tenant.faults)})

    def clear_faults(self, body: dict[str, Any]) -> Reply:
        self.tenant.faults.clear()
        return Reply(200, {"ok": True})

    def tokens(self, body: dict[str, Any]) -> Reply:
        """{"reject": bool} — Graph refuses every token; {"endpoint_down": bool} — 503s."""
        if "reject" in body:
            self.tenant.reject_tokens = bool(body["reject"])
        if "endpoint_down" in body:
            self.tenant.token_endpoint_down = bool(body["endpoint_down"])
        if body.get("forget"):
            self.tenant.tokens.clear()
        return Reply(200, {"ok": True})

    def tap_policy(self, body: dict[str, Any]) -> Reply:
        for name, attr in POLICY_FIELDS.items():
            if name in body:
                setattr(self.tenant.tap_policy, attr, body[name])
        return Reply(200, self.tenant.tap_policy.__dict__)

    def permissions(self, body: dict[str, Any]) -> Reply:
        """{"withhold": [...], "grant": [...], "client_id"?: ...} — admin consent, simulated."""
        app = self.tenant.apps[body.get("client_id", self.client_id)]
        app.grants.difference_update(body.get("withhold", []))
        app.grants.update(body.get("grant", []))
        return Reply(200, {"grants": sorted(app.grants)})

    def add_app(self, body: dict[str, Any]) -> Reply:
        pem = body.get("certificate_pem")
        self.tenant.apps[body["client_id"]] = App(
            client_id=body["client_id"],
            secret=body.get("client_secret"),
            certificate_pem=pem.encode() if pem else None,
        )
        return Reply(201, {"ok": True})

    def requests(self, body: dict[str, Any]) -> Reply:
        return Reply(200, {"requests": [r.__dict__ for r in self.tenant.requests]})

    def add_user(self, body: dict[str, Any]) -> Reply:
        login = body["upn"].split("@")[0]
        user = self.tenant.add_user(
            User(
                id=body.get("id") or seed.object_id(login),
                upn=body["upn"],
                display_name=body.get("displayName", login),
                department=body.get("department"),
                job_title=body.get("jobTitle"),
                user_type=body.get("userType", "Member"),
                manager_id=body.get("managerId"),
            )
        )
        return Reply(201, self.tenant.user_view(user))

    def user(self, body: dict[str, Any], upn: str) -> Reply:
        return Reply(200, self.tenant.user_view(self._user(upn)))

    def register_method(self, body: dict[str, Any], upn: str) -> Reply:
        """The user registers a method (e.g. a new Authenticator after a TAP sign-in)."""
        user = self._user(upn)
        data = {k: v for k, v in body.items() if k != "type"}
        method = self.tenant.add_method(user, METHOD_TYPES[body["type"]], **data)
        entry = audit_log.record_user_registration(self.tenant, user, method)
        return Reply(201, {"id": method.id, "event_id": entry["id"]})

    def tap_event(self, body: dict[str, Any], upn: str) -> Reply:
        """{"action": "use"} signs in with the TAP; {"action": "expire"} moves it into the past."""
        tap = self.tenant.tap_of(self._user(upn))
        if tap is None:
            return Reply(404, {"error": "no TAP"})
        if body.get("action") == "use":
            tap.used = True
        elif body.get("action") == "expire":
            minutes = int(tap.data["lifetimeInMinutes"]) + 1
            tap.data["startDateTime"] = now() - dt.timedelta(minutes=minutes)
            tap.created = tap.data["startDateTime"]
        return Reply(200, {"ok": True})

    def admin_center(self, body: dict[str, Any]) -> Reply:
        """A change made by a person in the Entra admin center, outside any portal
        (``audit_log.act_as_admin``): the tenant changes and its audit log says who did it."""
        return Reply(201, audit_log.act_as_admin(self.tenant, body))

    def audit_log(self, body: dict[str, Any]) -> Reply:
        """Every audit entry, visible yet or not, and how the log behaves."""
        return Reply(
            200,
            {
                "entries": audit_log.entries_view(self.tenant),
                "settings": self.tenant.audit_settings.__dict__,
            },
        )

    def audit_log_settings(self, body: dict[str, Any]) -> Reply:
        """{"delay_seconds", "page_size", "correlation", "late_next", "late_by_seconds",
        "duplicate_next", "premium"}: any subset (``state.AuditLogSettings``)."""
        names = {f.name for f in dataclasses.fields(AuditLogSettings)}
        unknown = sorted(set(body) - names)
        if unknown:
            raise ValueError(f"unknown audit-log settings: {unknown}")
        for name, value in body.items():
            setattr(self.tenant.audit_settings, name, value)
        return Reply(200, self.tenant.audit_settings.__dict__)

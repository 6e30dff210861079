"""The recovery policy: every rule an administrator may tune, in one place, with safe defaults.

Override any value with ``RECOVERY_POLICY = {"name": value, …}`` in settings (read there from
the ``RP_RECOVERY_POLICY`` environment variable, a JSON object). Unknown names and bad values
fail loudly: ImproperlyConfigured when read, and the system check tickets.E001 at start, so a
typo never silently weakens a rule. Callers read ``policy.current()``.

Each process records the policy it runs with in the audit trail when it differs from the last
one it recorded (``record_policy_in_force``: the worker at start and hourly, each web worker at
start), so an auditor can see when a rule was tuned, and what it was before.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction

from audit import log
from audit.actions import Action
from audit.models import AuditEvent
from tickets.models import MethodRemoval, TapChannel, Urgency, VerificationMethod, WhatHappened

# Graph's own bounds for a TAP lifetime, whatever the tenant policy says (graph.md §1).
GRAPH_TAP_MIN_MINUTES = 10
GRAPH_TAP_MAX_MINUTES = 43200


@dataclass(frozen=True)
class PlanDefaults:
    """What the verification form proposes for one kind of incident."""

    issue_tap: bool = True
    remove_methods: str = MethodRemoval.LOST_DEVICE
    revoke_sessions: bool = True


def _default_plans() -> dict[str, PlanDefaults]:
    # Lost or stolen: the device may be in someone else's hands → remove its methods and end
    # its sessions. Broken or replaced: the old app is gone but harmless → remove it, keep
    # sessions. Microsoft advises a TAP over wiping every method (graph.md §7).
    lost = PlanDefaults()
    gone = PlanDefaults(revoke_sessions=False)
    return {
        WhatHappened.LOST: lost,
        WhatHappened.STOLEN: lost,
        WhatHappened.BROKEN: gone,
        WhatHappened.REPLACED: gone,
        WhatHappened.NUMBER_CHANGED: PlanDefaults(revoke_sessions=False),
        WhatHappened.OTHER: lost,
    }


# Method types (Graph @odata.type without prefix) that live on the phone that was lost.
LOST_DEVICE_METHOD_TYPES = ("microsoftAuthenticator", "softwareOath", "phone")


@dataclass(frozen=True)
class Policy:
    # Identity verification. Knowledge questions are not a method, by design.
    verification_methods: tuple[str, ...] = tuple(VerificationMethod.values)
    liveness_prompt_count: int = 3
    # Directory fields whose phone number counts as a trusted record for a callback…
    trusted_phone_fields: tuple[str, ...] = ("mobilePhone",)
    # …and only when the account is synchronised from on-premises (HR-fed, not user-editable).
    trusted_phone_requires_sync: bool = True

    # Manager confirmation.
    manager_link_hours: int = 24
    # With no manager on record the confirmation goes to the security officers.
    no_manager_route: str = "security"

    # Two-person rule and privileged accounts. An account whose privilege is unknown (the
    # directory could not be read) counts as privileged.
    treat_unknown_as_privileged: bool = True
    privileged_cooling_off_minutes: int = 60

    # Temporary Access Pass.
    tap_channels: tuple[str, ...] = (TapChannel.REQUESTER, TapChannel.AGENT)
    tap_default_channel: str = TapChannel.REQUESTER
    tap_default_lifetime_minutes: int = 60
    tap_default_usable_once: bool = True
    tap_reveal_window_minutes: int = 30

    # Conditional Access exclusion (0 disables the option).
    ca_exclusion_max_minutes: int = 120

    # Plans proposed per incident.
    plans: dict[str, PlanDefaults] = field(default_factory=_default_plans)

    # Queue: the SLA clock per urgency, in minutes, and the page size.
    sla_minutes: dict[str, int] = field(
        default_factory=lambda: {
            Urgency.CRITICAL: 60,
            Urgency.HIGH: 4 * 60,
            Urgency.NORMAL: 24 * 60,
            Urgency.LOW: 3 * 24 * 60,
        }
    )
    queue_page_size: int = 25

    # Follow-up after execution: how often to ask Graph whether a method was registered, and
    # when to give up waiting and hand the case back to an agent.
    follow_up_minutes: int = 15
    follow_up_give_up_hours: int = 72

    def plan_for(self, what_happened: str) -> PlanDefaults:
        return self.plans.get(what_happened, PlanDefaults())

    @property
    def cooling_off(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.privileged_cooling_off_minutes)

    @property
    def manager_link_lifetime(self) -> dt.timedelta:
        return dt.timedelta(hours=self.manager_link_hours)

    @property
    def tap_reveal_window(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.tap_reveal_window_minutes)

    def sla(self, urgency: str) -> dt.timedelta:
        return dt.timedelta(minutes=self.sla_minutes.get(urgency, self.sla_minutes["normal"]))

    def sla_due_at(self, urgency: str, *, received_at: dt.datetime) -> dt.datetime:
        """When a case of this urgency received at ``received_at`` breaches its SLA."""
        return received_at + self.sla(urgency)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ImproperlyConfigured(f"RECOVERY_POLICY: {message}")


def _coerce(name: str, value: Any) -> Any:
    if name == "plans":
        _check(isinstance(value, dict), "plans must be a mapping of incident → defaults")
        plans = dict(_default_plans())
        for incident, fields in value.items():
            _check(incident in WhatHappened.values, f"unknown incident {incident!r} in plans")
            _check(isinstance(fields, dict), f"plans[{incident!r}] must be a mapping")
            plans[incident] = PlanDefaults(**fields)
        return plans
    if name == "sla_minutes":
        _check(isinstance(value, dict), "sla_minutes must be a mapping of urgency → minutes")
        return {**Policy().sla_minutes, **{str(k): int(v) for k, v in value.items()}}
    if isinstance(value, list):
        return tuple(value)
    return value


def _validate(p: Policy) -> None:
    _check(bool(p.verification_methods), "at least one verification method is required")
    for m in p.verification_methods:
        _check(m in VerificationMethod.values, f"unknown verification method {m!r}")
    _check(1 <= p.liveness_prompt_count <= 6, "liveness_prompt_count must be 1–6")
    _check(1 <= p.manager_link_hours <= 24 * 7, "manager_link_hours must be 1–168")
    _check(p.no_manager_route == "security", "no_manager_route can only be 'security'")
    _check(p.privileged_cooling_off_minutes >= 0, "privileged_cooling_off_minutes must be ≥ 0")
    _check(bool(p.tap_channels), "at least one TAP delivery channel is required")
    for c in p.tap_channels:
        _check(c in TapChannel.values, f"unknown TAP channel {c!r}")
    _check(p.tap_default_channel in p.tap_channels, "tap_default_channel must be allowed")
    _check(
        GRAPH_TAP_MIN_MINUTES <= p.tap_default_lifetime_minutes <= GRAPH_TAP_MAX_MINUTES,
        "tap_default_lifetime_minutes must be 10–43200",
    )
    _check(1 <= p.tap_reveal_window_minutes <= 24 * 60, "tap_reveal_window_minutes: 1–1440")
    _check(0 <= p.ca_exclusion_max_minutes <= 24 * 60, "ca_exclusion_max_minutes: 0–1440")
    for urgency in Urgency.values:
        _check(p.sla_minutes.get(urgency, 0) > 0, f"sla_minutes[{urgency!r}] must be > 0")
    for plan in p.plans.values():
        _check(plan.remove_methods in MethodRemoval.values, "bad remove_methods in plans")
    _check(1 <= p.follow_up_minutes <= 24 * 60, "follow_up_minutes must be 1–1440")
    _check(p.follow_up_give_up_hours >= 1, "follow_up_give_up_hours must be ≥ 1")
    _check(5 <= p.queue_page_size <= 200, "queue_page_size must be 5–200")


def build(overrides: dict[str, Any] | None = None) -> Policy:
    """A validated policy: the defaults with ``overrides`` applied."""
    overrides = dict(overrides or {})
    known = {f.name for f in dataclasses.fields(Policy)}
    unknown = sorted(set(overrides) - known)
    _check(not unknown, f"unknown setting(s): {', '.join(unknown)}")
    try:
        policy = Policy(**{name: _coerce(name, value) for name, value in overrides.items()})
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"RECOVERY_POLICY: {exc}") from exc
    _validate(policy)
    return policy


@checks.register()
def check_policy(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """System check: the configured policy is valid (the portal refuses to start otherwise)."""
    try:
        current()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="tickets.E001")]
    return []


def current() -> Policy:
    """The policy in force (settings are read each time, so tests may override them)."""
    return build(getattr(settings, "RECOVERY_POLICY", None))


# The scope of the config.changed events this module records (data["scope"]).
POLICY_SCOPE = "recovery_policy"
# Names the lock that makes web workers booting together record a new policy once.
_RECORD_LOCK_KEY = 0x52505043  # "RPPC"


def as_data(p: Policy) -> dict[str, Any]:
    """The policy as plain JSON values, keys sorted (what a config.changed event carries)."""
    return dict(json.loads(json.dumps(dataclasses.asdict(p), sort_keys=True)))


@transaction.atomic
def record_policy_in_force(*, process: str) -> AuditEvent | None:
    """Record ``config.changed`` when the policy in force here differs from the last one
    recorded for ``process`` ("web" or "worker"), or none was; return the event, or None.

    The event carries the whole policy, its SHA-256 and the names that changed (none for the
    first record). Idempotent: the same policy again records nothing. Processes starting
    together are serialised by an advisory lock, so one change is one event.
    """
    data = as_data(current())
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_RECORD_LOCK_KEY])
    last = (
        AuditEvent.objects.filter(action=Action.CONFIG_CHANGED)
        .filter(data__scope=POLICY_SCOPE, data__process=process)
        .order_by("-id")
        .first()
    )
    if last is not None and last.data.get("sha256") == digest:
        return None
    before = last.data.get("policy", {}) if last is not None else {}
    changed = sorted(k for k in data if before.get(k) != data[k]) if last is not None else []
    return log.record(
        Action.CONFIG_CHANGED,
        data={
            "scope": POLICY_SCOPE,
            "process": process,
            "sha256": digest,
            "changed": changed,
            "policy": data,
        },
    )

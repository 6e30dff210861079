"""What a recovery plan means in Graph operations, and the facts a verifier works from.

No state transitions here (those are ``tickets.workflow``'s): this module turns a plan into
ordered steps, checks a plan against the policy and the tenant's TAP policy, and reads the
trusted facts (callback numbers, directory methods) a verification relies on.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from graphops.models import GraphOperation, Kind, OpStatus
from tickets import policy as policy_module
from tickets.models import MethodRemoval, TapChannel, Ticket

# Everything "remove all methods" deletes. A TAP is left alone: the plan's new one replaces it.
ALL_METHOD_TYPES = (
    "phone",
    "microsoftAuthenticator",
    "softwareOath",
    "fido2",
    "email",
    "windowsHelloForBusiness",
)

# Random liveness prompts the video-call page proposes (a recorded deepfake cannot follow a
# prompt it has not seen). Numbers and words are added at random so prompts are never reused.
_PROMPTS = (
    gettext_lazy("Turn your head slowly to the left, then to the right."),
    gettext_lazy("Hold your photo ID next to your face, then tilt it towards the light."),
    gettext_lazy("Cover your left eye with your right hand."),
    gettext_lazy("Touch your right ear with your left hand."),
    gettext_lazy("Look up at the ceiling, then back at the camera."),
    gettext_lazy("Move closer to the camera, then lean back."),
    gettext_lazy("Pass your hand slowly in front of your face."),
)
_WORDS = ("amber", "harbour", "violet", "granite", "meadow", "copper", "lantern", "orchid")


@dataclass(frozen=True)
class Plan:
    """The recovery actions a verifier proposes and the approvers approve."""

    issue_tap: bool = True
    tap_lifetime_minutes: int | None = None
    tap_usable_once: bool = True
    tap_channel: str = TapChannel.REQUESTER
    remove_methods: str = MethodRemoval.LOST_DEVICE
    method_ids_to_remove: tuple[str, ...] = field(default_factory=tuple)
    revoke_sessions: bool = True
    ca_exclusion_minutes: int | None = None


@dataclass(frozen=True)
class TapBounds:
    """The tenant's TAP policy as last read from Graph (Microsoft's defaults until then)."""

    minimum: int = 60
    maximum: int = 480
    default: int = 60
    one_time_enforced: bool = False
    enabled: bool = True
    known: bool = False


def tap_bounds() -> TapBounds:
    """The tenant's TAP policy from the latest successful READ_TAP_POLICY operation."""
    result = (
        GraphOperation.objects.filter(kind=Kind.READ_TAP_POLICY, status=OpStatus.SUCCEEDED)
        .order_by("-finished_at")
        .values_list("result", flat=True)
        .first()
    )
    tenant = (result or {}).get("policy") or {}
    if not tenant:
        return TapBounds()
    return TapBounds(
        minimum=int(tenant.get("minimumLifetimeInMinutes") or 60),
        maximum=int(tenant.get("maximumLifetimeInMinutes") or 480),
        default=int(tenant.get("defaultLifetimeInMinutes") or 60),
        one_time_enforced=bool(tenant.get("isUsableOnce")),
        enabled=str(tenant.get("state", "enabled")).lower() == "enabled",
        known=True,
    )


def liveness_prompts(count: int) -> list[str]:
    """``count`` distinct prompts in random order, one of them with a random phrase to repeat."""
    rng = secrets.SystemRandom()
    chosen = [str(p) for p in rng.sample(_PROMPTS, k=min(count - 1, len(_PROMPTS)))]
    phrase = f"{rng.choice(_WORDS)} {rng.randint(10, 99)} {rng.choice(_WORDS)}"
    chosen.append(_("Say these words aloud: “%(phrase)s”.") % {"phrase": phrase})
    rng.shuffle(chosen)
    return chosen


def user_facts(ticket: Ticket) -> dict[str, Any]:
    facts = ticket.directory_facts or {}
    user = facts.get("user")
    return user if isinstance(user, dict) else facts


def trusted_phone_numbers(ticket: Ticket) -> list[str]:
    """Callback numbers from a trusted record; never the number given in the request."""
    pol = policy_module.current()
    user = user_facts(ticket)
    if pol.trusted_phone_requires_sync and not user.get("onPremisesSyncEnabled"):
        return []
    numbers: list[str] = []
    for name in pol.trusted_phone_fields:
        value = user.get(name)
        for number in value if isinstance(value, list) else [value]:
            if isinstance(number, str) and number.strip() and number.strip() not in numbers:
                numbers.append(number.strip())
    return numbers


def directory_methods(ticket: Ticket) -> list[dict[str, Any]]:
    """The registered methods the directory lookup found: [{"id", "type", "displayName"}…]."""
    methods = (ticket.directory_facts or {}).get("methods") or []
    return [m for m in methods if isinstance(m, dict) and m.get("id") and m.get("type")]


def lost_device_method_ids(ticket: Ticket) -> list[str]:
    """The methods that live on a lost phone (Authenticator, OATH app, phone numbers)."""
    types = policy_module.LOST_DEVICE_METHOD_TYPES
    return [m["id"] for m in directory_methods(ticket) if m["type"] in types]


def default_plan(ticket: Ticket) -> Plan:
    pol = policy_module.current()
    defaults = pol.plan_for(ticket.what_happened)
    bounds = tap_bounds()
    lifetime = min(max(pol.tap_default_lifetime_minutes, bounds.minimum), bounds.maximum)
    return Plan(
        issue_tap=defaults.issue_tap and bounds.enabled,
        tap_lifetime_minutes=lifetime,
        tap_usable_once=pol.tap_default_usable_once or bounds.one_time_enforced,
        tap_channel=pol.tap_default_channel,
        remove_methods=defaults.remove_methods,
        method_ids_to_remove=tuple(lost_device_method_ids(ticket)),
        revoke_sessions=defaults.revoke_sessions,
        ca_exclusion_minutes=None,
    )


def plan_problems(plan: Plan, ticket: Ticket) -> list[str]:
    """Why the plan cannot be approved as it stands (empty when it can)."""
    pol = policy_module.current()
    problems: list[str] = []
    if not (
        plan.issue_tap
        or plan.remove_methods != MethodRemoval.NONE
        or plan.revoke_sessions
        or plan.ca_exclusion_minutes
    ):
        problems.append(_("The plan does nothing: choose at least one action."))
    if plan.issue_tap:
        problems += _tap_problems(plan)
    if plan.remove_methods == MethodRemoval.LOST_DEVICE:
        known = {m["id"] for m in directory_methods(ticket)}
        if known and not set(plan.method_ids_to_remove) <= known:
            problems.append(_("Only methods the directory lists can be removed."))
    if plan.ca_exclusion_minutes:
        if not settings.CA_EXCLUSION_GROUP_ID or not pol.ca_exclusion_max_minutes:
            problems.append(_("Conditional Access exclusion is not configured."))
        elif not 1 <= plan.ca_exclusion_minutes <= pol.ca_exclusion_max_minutes:
            problems.append(
                _("A Conditional Access exclusion lasts 1 to %(max)d minutes.")
                % {"max": pol.ca_exclusion_max_minutes}
            )
    return problems


def _tap_problems(plan: Plan) -> list[str]:
    pol = policy_module.current()
    bounds = tap_bounds()
    problems: list[str] = []
    if not bounds.enabled:
        problems.append(_("The tenant's Temporary Access Pass policy is off."))
    lifetime = plan.tap_lifetime_minutes or bounds.default
    if not bounds.minimum <= lifetime <= bounds.maximum:
        problems.append(
            _("The tenant allows a Temporary Access Pass of %(min)d to %(max)d minutes.")
            % {"min": bounds.minimum, "max": bounds.maximum}
        )
    if bounds.one_time_enforced and not plan.tap_usable_once:
        problems.append(_("The tenant allows one-time Temporary Access Passes only."))
    if plan.tap_channel not in pol.tap_channels:
        problems.append(_("This way of handing over the pass is not allowed by the policy."))
    return problems


def steps_for(plan: Plan) -> list[tuple[str, dict[str, Any]]]:
    """The Graph operations carrying out ``plan``, in the order they must run.

    Sessions go first (an attacker holding the lost phone is cut off before anything else),
    methods next, the exclusion after, and the TAP last, so nothing deletes the new pass.
    """
    steps: list[tuple[str, dict[str, Any]]] = []
    if plan.revoke_sessions:
        steps.append((Kind.REVOKE_SESSIONS, {}))
    if plan.remove_methods == MethodRemoval.ALL:
        steps.append((Kind.DELETE_METHODS, {"method_types": list(ALL_METHOD_TYPES)}))
    elif plan.remove_methods == MethodRemoval.LOST_DEVICE:
        if plan.method_ids_to_remove:
            steps.append((Kind.DELETE_METHODS, {"method_ids": list(plan.method_ids_to_remove)}))
        else:
            types = list(policy_module.LOST_DEVICE_METHOD_TYPES)
            steps.append((Kind.DELETE_METHODS, {"method_types": types}))
    if plan.ca_exclusion_minutes:
        steps.append((Kind.ADD_CA_EXCLUSION, {"minutes": plan.ca_exclusion_minutes}))
    if plan.issue_tap:
        params: dict[str, Any] = {"one_time": plan.tap_usable_once}
        if plan.tap_lifetime_minutes:
            params["lifetime_minutes"] = plan.tap_lifetime_minutes
        steps.append((Kind.ISSUE_TAP, params))
    return steps

"""tickets.policy: one place, safe defaults, loud failures on bad overrides."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ImproperlyConfigured

from audit.models import AuditEvent
from audit.verify import verify_chain
from tickets import policy
from tickets.models import MethodRemoval, TapChannel, VerificationMethod


def test_policy_defaults_are_the_safe_ones() -> None:
    # when
    p = policy.build()
    # then
    assert set(p.verification_methods) == set(VerificationMethod.values)
    assert p.treat_unknown_as_privileged is True
    assert p.privileged_cooling_off_minutes > 0
    assert p.trusted_phone_requires_sync is True
    assert p.tap_default_usable_once is True
    assert p.tap_default_channel == TapChannel.REQUESTER
    assert p.tap_reveal_window <= dt.timedelta(hours=1)
    assert p.plan_for("lost").remove_methods == MethodRemoval.LOST_DEVICE
    assert p.plan_for("lost").revoke_sessions is True
    assert p.plan_for("broken").revoke_sessions is False
    assert p.sla("critical") < p.sla("high") < p.sla("normal") < p.sla("low")


def test_policy_reads_overrides_from_settings(settings) -> None:  # type: ignore[no-untyped-def]
    settings.RECOVERY_POLICY = {
        "verification_methods": ["video_id", "in_person"],
        "privileged_cooling_off_minutes": 0,
        "sla_minutes": {"critical": 30},
        "plans": {"broken": {"revoke_sessions": True}},
    }
    p = policy.current()
    assert p.verification_methods == ("video_id", "in_person")
    assert p.cooling_off == dt.timedelta(0)
    assert p.sla("critical") == dt.timedelta(minutes=30)
    assert p.sla("low") == policy.Policy().sla("low")
    assert p.plan_for("broken").revoke_sessions is True


@pytest.mark.parametrize(
    "overrides",
    [
        {"verification_methods": ["knowledge_questions"]},
        {"verification_methods": []},
        {"tap_channels": ["email"]},
        {"tap_channels": ["agent"], "tap_default_channel": "requester"},
        {"tap_default_lifetime_minutes": 5},
        {"privileged_cooling_off_minutes": -1},
        {"no_manager_route": "nobody"},
        {"sla_minutes": {"high": 0}},
        {"plans": {"lost": {"remove_methods": "everything"}}},
        {"plans": {"meteor": {}}},
        {"cooling_off": 0},  # a typo of privileged_cooling_off_minutes
    ],
)
def test_policy_refuses_a_bad_override(overrides) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ImproperlyConfigured, match="RECOVERY_POLICY"):
        policy.build(overrides)


def test_policy_system_check_reports_a_bad_configuration(settings) -> None:  # type: ignore[no-untyped-def]
    settings.RECOVERY_POLICY = {"tap_channels": ["email"]}
    [error] = policy.check_policy()
    assert error.id == "tickets.E001" and "email" in error.msg


def test_policy_system_check_passes_the_defaults(settings) -> None:  # type: ignore[no-untyped-def]
    settings.RECOVERY_POLICY = {}
    assert policy.check_policy() == []


def _policy_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="config.changed").order_by("id"))


@pytest.mark.django_db
def test_record_policy_in_force_records_the_first_policy_once(settings) -> None:  # type: ignore[no-untyped-def]
    # given a portal that never recorded its policy
    settings.RECOVERY_POLICY = {}
    # when the worker records it, then records it again unchanged
    first = policy.record_policy_in_force(process="worker")
    again = policy.record_policy_in_force(process="worker")
    # then one event holds the whole policy, and its hash checks
    assert again is None
    [event] = _policy_events()
    assert first is not None and event.pk == first.pk
    assert event.data["process"] == "worker" and event.data["changed"] == []
    assert event.data["policy"]["privileged_cooling_off_minutes"] == 60
    assert event.data["policy"]["plans"]["lost"]["revoke_sessions"] is True
    assert verify_chain().ok


@pytest.mark.django_db
def test_record_policy_in_force_names_what_changed(settings) -> None:  # type: ignore[no-untyped-def]
    # given the policy recorded, then an administrator removing the cooling-off and a method
    settings.RECOVERY_POLICY = {}
    policy.record_policy_in_force(process="web")
    settings.RECOVERY_POLICY = {
        "privileged_cooling_off_minutes": 0,
        "verification_methods": ["video_id", "in_person"],
    }
    # when the web restarts with it
    event = policy.record_policy_in_force(process="web")
    # then the event says which rules changed and to what
    assert event is not None
    assert event.data["changed"] == ["privileged_cooling_off_minutes", "verification_methods"]
    assert event.data["policy"]["privileged_cooling_off_minutes"] == 0
    assert event.data["policy"]["verification_methods"] == ["video_id", "in_person"]
    assert event.data["sha256"] != _policy_events()[0].data["sha256"]


@pytest.mark.django_db
def test_record_policy_in_force_keeps_each_process_apart(settings) -> None:  # type: ignore[no-untyped-def]
    # given the worker recorded its policy
    settings.RECOVERY_POLICY = {}
    policy.record_policy_in_force(process="worker")
    # when the web records the same one, and the worker again
    web = policy.record_policy_in_force(process="web")
    worker = policy.record_policy_in_force(process="worker")
    # then the web's first record is its own; the worker's unchanged policy records nothing
    assert web is not None and web.data["process"] == "web" and worker is None
    assert len(_policy_events()) == 2

"""Retention: personal values of closed cases go; hashes stay; the chain still verifies."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audit import log, retention
from audit.actions import Action
from audit.models import AuditEvent
from audit.signals import personal_data_purged
from audit.tasks import purge_personal_data
from audit.verify import verify_chain

pytestmark = pytest.mark.django_db
DAY = dt.timedelta(days=1)


def _case(ref: str, *, closing: Action | None = Action.TICKET_RESTORED) -> None:
    log.record(
        Action.TICKET_SUBMITTED,
        ticket_ref=ref,
        subject=f"{ref.lower()}@contoso.example",
        reason="Phone stolen at the station",
        personal={"full_name": "Mario Rossi"},
        data={"what_happened": "stolen"},
    )
    if closing:
        log.record(closing, ticket_ref=ref, subject=f"{ref.lower()}@contoso.example")


def test_purge_blanks_closed_cases_past_the_period_and_keeps_the_chain_valid(db) -> None:  # type: ignore[no-untyped-def]
    # given a closed case, an open case, and (after them) the time passing
    _case("RP-OLD")
    _case("RP-OPEN", closing=None)
    later = timezone.now() + 31 * DAY
    # when
    result = retention.purge_personal_data(days=30, now=later)
    # then the closed case's personal values are gone, the open one's are not
    assert result.ticket_refs == ["RP-OLD"] and result.events == 2
    old = AuditEvent.objects.filter(ticket_ref="RP-OLD")
    assert {(e.subject, e.reason, str(e.personal), e.pii_salt) for e in old} == {("", "", "{}", "")}
    assert all(e.redacted_at for e in old)
    assert old.first().data == {"what_happened": "stolen"}  # non-personal facts stay
    assert AuditEvent.objects.get(ticket_ref="RP-OPEN").subject == "rp-open@contoso.example"
    # and the purge is itself on the record, and the whole chain verifies
    purge = AuditEvent.objects.get(action=Action.AUDIT_RETENTION_PURGED)
    assert purge.data["ticket_refs"] == ["RP-OLD"] and purge.data["events"] == 2
    report = verify_chain()
    assert report.ok, report.broken
    assert report.redacted == 2


def test_purge_leaves_a_case_closed_within_the_period(db) -> None:  # type: ignore[no-untyped-def]
    _case("RP-RECENT")
    result = retention.purge_personal_data(days=30, now=timezone.now() + 29 * DAY)
    assert result.events == 0
    assert not AuditEvent.objects.filter(action=Action.AUDIT_RETENTION_PURGED).exists()


def test_purge_leaves_a_reopened_case(db) -> None:  # type: ignore[no-untyped-def]
    _case("RP-AGAIN", closing=Action.TICKET_CLOSED)
    log.record(Action.TICKET_REOPENED, ticket_ref="RP-AGAIN")
    assert retention.purge_personal_data(days=30, now=timezone.now() + 40 * DAY).events == 0


def test_purge_blanks_old_events_without_a_case(db) -> None:  # type: ignore[no-untyped-def]
    # given a failed staff sign-in (it names the login tried and the IP)
    log.record(Action.STAFF_SIGN_IN_FAILED, subject="mallory", outcome="failure")
    # when
    result = retention.purge_personal_data(days=30, now=timezone.now() + 31 * DAY)
    # then
    assert result.events == 1
    assert AuditEvent.objects.get(action=Action.STAFF_SIGN_IN_FAILED).subject == ""
    assert verify_chain().ok


def test_purge_twice_changes_nothing_the_second_time(db) -> None:  # type: ignore[no-untyped-def]
    _case("RP-ONCE")
    later = timezone.now() + 31 * DAY
    retention.purge_personal_data(days=30, now=later)
    count = AuditEvent.objects.count()
    assert retention.purge_personal_data(days=30, now=later).events == 0
    assert AuditEvent.objects.count() == count


def test_purge_tells_subscribers_after_commit(db, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    # given
    heard: list[list[str]] = []

    def listener(sender, ticket_refs, before, **kwargs):  # type: ignore[no-untyped-def]
        heard.append(ticket_refs)

    personal_data_purged.connect(listener, dispatch_uid="test-listener")
    _case("RP-SIGNAL")
    # when
    try:
        with django_capture_on_commit_callbacks(execute=True):
            retention.purge_personal_data(days=30, now=timezone.now() + 31 * DAY)
    finally:
        personal_data_purged.disconnect(dispatch_uid="test-listener")
    # then
    assert heard == [["RP-SIGNAL"]]


def test_purge_task_uses_the_configured_period(db, settings) -> None:  # type: ignore[no-untyped-def]
    settings.AUDIT_RETENTION_DAYS = 1
    _case("RP-TASK")
    purge_personal_data.apply()
    assert AuditEvent.objects.get(action=Action.TICKET_SUBMITTED).subject != ""

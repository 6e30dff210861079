"""Beat-driven repairs: stale RUNNING rows, failed exclusion removals, uncollected secrets,
lost messages."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from graphops import dispatch, ledger, operations, repairs
from graphops.models import GraphOperation, Kind, OpStatus

pytestmark = pytest.mark.django_db

MARIO = "mario.rossi@contoso.example"


def _running(kind: Kind, **params: object) -> GraphOperation:
    operation = operations.request_operation(kind, target_upn=MARIO, params=params)
    claimed = ledger.claim(str(operation.pk))
    assert claimed is not None
    return claimed


def _later() -> dt.datetime:
    return timezone.now() + dt.timedelta(hours=1)


def test_recover_stale_releases_a_repeatable_kind(simtenant):
    # given
    operation = _running(Kind.LIST_METHODS)
    # when
    count = repairs.recover_stale(now=_later())
    # then
    operation.refresh_from_db()
    assert count == 1
    assert operation.status == OpStatus.PENDING


def test_recover_stale_ignores_a_fresh_running_row(simtenant):
    # given
    operation = _running(Kind.LIST_METHODS)
    # when
    repairs.recover_stale()
    # then
    operation.refresh_from_db()
    assert operation.status == OpStatus.RUNNING


def test_recover_stale_tap_with_a_pass_in_graph_needs_review(simtenant, run_operation):
    # given: a pass exists in the tenant, created after the row started
    operation = _running(Kind.ISSUE_TAP)
    GraphOperation.objects.filter(pk=operation.pk).update(started_at=timezone.now())
    other = operations.request_operation(Kind.ISSUE_TAP, target_upn=MARIO)
    run_operation(other)
    # when
    repairs.recover_stale(now=_later())
    # then
    operation.refresh_from_db()
    assert operation.status == OpStatus.NEEDS_REVIEW
    assert operation.result["tap"]["id"] == simtenant.user(MARIO)["tap"]["id"]
    assert simtenant.user(MARIO)["taps_issued"] == 1


def test_recover_stale_tap_without_a_pass_is_released(simtenant):
    # given
    operation = _running(Kind.ISSUE_TAP)
    # when
    repairs.recover_stale(now=_later())
    # then
    operation.refresh_from_db()
    assert operation.status == OpStatus.PENDING
    assert "checked in Graph" in operation.error_message


def test_recover_stale_tap_when_graph_is_down_stays_running(simtenant):
    # given
    operation = _running(Kind.ISSUE_TAP)
    simtenant.fault(status=503, count=1, retry_after=1)
    # when
    repairs.recover_stale(now=_later())
    # then
    operation.refresh_from_db()
    assert operation.status == OpStatus.RUNNING


def test_recover_stale_gives_up_after_max_attempts(simtenant, settings):
    # given
    settings.GRAPH_MAX_ATTEMPTS = 1
    operation = _running(Kind.LIST_METHODS)
    # when
    repairs.recover_stale(now=_later())
    # then
    operation.refresh_from_db()
    assert operation.status == OpStatus.FAILED
    assert operation.error_code == "worker_lost"


def test_retry_exclusion_removals_requeues_a_failed_removal(simtenant):
    # given
    operations.request_operation(Kind.ADD_CA_EXCLUSION, target_upn=MARIO, params={"minutes": 5})
    removal = GraphOperation.objects.get(kind=Kind.REMOVE_CA_EXCLUSION)
    GraphOperation.objects.filter(pk=removal.pk).update(not_before=None)
    claimed = ledger.claim(str(removal.pk))
    assert claimed is not None
    ledger.fail(claimed, code="Authorization_RequestDenied", message="no permission")
    # when
    count = repairs.retry_exclusion_removals(now=_later())
    # then
    removal.refresh_from_db()
    assert count == 1
    assert removal.status == OpStatus.PENDING


def test_wipe_expired_secrets_drops_an_uncollected_pass(simtenant, run_operation):
    # given
    operation = run_operation(operations.request_operation(Kind.ISSUE_TAP, target_upn=MARIO))
    assert operation.secret_ciphertext
    # when
    wiped = repairs.wipe_expired_secrets(now=timezone.now() + dt.timedelta(days=1))
    # then
    operation.refresh_from_db()
    assert wiped == 1
    assert operation.secret_ciphertext == ""
    with pytest.raises(operations.SecretUnavailable):
        operations.reveal_secret(operation)


def test_send_due_resends_a_quiet_pending_row(simtenant, settings):
    # given
    operation = operations.request_operation(Kind.LOOKUP_USER, target_upn=MARIO)
    # when
    early = dispatch.send_due()
    late = dispatch.send_due(
        now=timezone.now() + dt.timedelta(seconds=settings.GRAPH_RESEND_AFTER_SECONDS + 1)
    )
    # then
    assert early == 0
    assert late == 1
    operation.refresh_from_db()
    assert operation.status == OpStatus.PENDING

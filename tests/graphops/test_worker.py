"""The ledger across the queue: a real Celery worker process, the real Redis broker, the test
database, and the simulated tenant. Each case ends in the right state with no TAP issued twice."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.conf import settings
from django.utils import timezone

from graphops import operations, repairs, tasks
from graphops.models import GraphOperation, Kind, OpStatus
from tests.fixtures_graph import wait_for_status

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MARIO = "mario.rossi@contoso.example"
TAP_PATH = "temporaryAccessPassMethods"


def _issue_tap() -> GraphOperation:
    return operations.request_operation(Kind.ISSUE_TAP, target_upn=MARIO, correlation="RP-W1")


def _tap_posts(simtenant, operation: GraphOperation) -> int:  # type: ignore[no-untyped-def]
    return sum(
        1
        for r in simtenant.requests()
        if r["method"] == "POST"
        and TAP_PATH in r["path"]
        and r["client_request_id"] == str(operation.pk)
    )


def _wait_until(check, *, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.2)


def _after_stale_window() -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=settings.GRAPH_STALE_AFTER_SECONDS + 1)


def test_worker_issues_a_tap_that_the_tenant_holds(simtenant, celery_worker):
    # when
    operation = wait_for_status(_issue_tap(), OpStatus.SUCCEEDED, OpStatus.FAILED)
    # then
    assert operation.status == OpStatus.SUCCEEDED, operation.error_message
    assert simtenant.user(MARIO)["tap"]["id"] == operation.result["tap_id"]
    value = operations.reveal_secret(operation)
    assert value and value not in celery_worker.log()


def test_worker_duplicate_delivery_is_a_noop(simtenant, celery_worker):
    # given
    operation = _issue_tap()
    # when: the same message arrives twice more
    tasks.OPERATION_TASKS[Kind.ISSUE_TAP].delay(str(operation.pk))
    tasks.OPERATION_TASKS[Kind.ISSUE_TAP].delay(str(operation.pk))
    wait_for_status(operation, OpStatus.SUCCEEDED)
    _wait_until(lambda: celery_worker.log().count("not claimable") >= 2)
    # then
    assert _tap_posts(simtenant, operation) == 1
    assert simtenant.user(MARIO)["taps_issued"] == 1
    operation.refresh_from_db()
    assert operation.attempts == 1


def test_worker_killed_after_the_post_never_issues_a_second_tap(simtenant, celery_worker):
    # given: the tenant creates the pass, then stalls before answering
    simtenant.fault(
        delay_seconds=60, delay_after_action=True, method="POST", path_contains=TAP_PATH
    )
    operation = _issue_tap()
    _wait_until(lambda: simtenant.user(MARIO)["taps_issued"] == 1)
    # when: the worker dies mid-answer, the beat sweep finds the row, the message comes back
    celery_worker.kill()
    operation.refresh_from_db()
    assert operation.status == OpStatus.RUNNING
    repairs.recover_stale(now=_after_stale_window())
    celery_worker.start()
    tasks.OPERATION_TASKS[Kind.ISSUE_TAP].delay(str(operation.pk))
    _wait_until(lambda: "not claimable" in celery_worker.log())
    # then
    operation.refresh_from_db()
    assert operation.status == OpStatus.NEEDS_REVIEW
    assert operation.error_code == "tap_created_value_lost"
    assert operation.result["tap"]["id"] == simtenant.user(MARIO)["tap"]["id"]
    assert operation.secret_ciphertext == ""
    assert simtenant.user(MARIO)["taps_issued"] == 1


def test_worker_killed_before_the_post_issues_exactly_once_after_recovery(simtenant, celery_worker):
    # given: the user lookup (just before the POST) hangs
    simtenant.fault(delay_seconds=20, method="GET", path_contains="/users/mario")
    operation = _issue_tap()
    _wait_until(lambda: GraphOperation.objects.get(pk=operation.pk).status == OpStatus.RUNNING)
    time.sleep(1)
    # when
    celery_worker.kill()
    repairs.recover_stale(now=_after_stale_window())
    celery_worker.start()
    # then: Graph showed no pass, so the row was released and issued once
    done = wait_for_status(operation, OpStatus.SUCCEEDED, OpStatus.NEEDS_REVIEW)
    assert done.status == OpStatus.SUCCEEDED
    assert done.attempts == 2
    assert simtenant.user(MARIO)["taps_issued"] == 1


def test_worker_rides_out_a_burst_of_429s(simtenant, celery_worker):
    # given
    simtenant.fault(status=429, count=3, retry_after=1, method="POST", path_contains=TAP_PATH)
    # when
    operation = wait_for_status(_issue_tap(), OpStatus.SUCCEEDED, OpStatus.FAILED, timeout=90)
    # then
    assert operation.status == OpStatus.SUCCEEDED
    assert operation.attempts == 4
    assert _tap_posts(simtenant, operation) == 4
    assert simtenant.user(MARIO)["taps_issued"] == 1


def test_worker_retries_a_read_after_a_503(simtenant, celery_worker):
    # given
    simtenant.fault(status=503, count=1, retry_after=1, path_contains="/users/")
    # when
    operation = operations.request_operation(Kind.DIRECTORY_LOOKUP, target_upn=MARIO)
    done = wait_for_status(operation, OpStatus.SUCCEEDED, OpStatus.FAILED)
    # then
    assert done.status == OpStatus.SUCCEEDED
    assert done.attempts == 2
    assert done.result["user"]["userPrincipalName"] == MARIO


def test_worker_5xx_after_the_pass_was_created_goes_to_review(simtenant, celery_worker):
    # given: the tenant creates the pass, then answers 504
    simtenant.fault(status=504, delay_after_action=True, method="POST", path_contains=TAP_PATH)
    # when
    done = wait_for_status(_issue_tap(), OpStatus.NEEDS_REVIEW, OpStatus.SUCCEEDED, OpStatus.FAILED)
    # then
    assert done.status == OpStatus.NEEDS_REVIEW
    assert done.error_code == "tap_created_value_lost"
    assert simtenant.user(MARIO)["taps_issued"] == 1


def test_worker_5xx_before_the_pass_was_created_retries_safely(simtenant, celery_worker):
    # given: a 500 without any write (Graph had nothing to show for it)
    simtenant.fault(status=500, count=1, retry_after=1, method="POST", path_contains=TAP_PATH)
    # when
    done = wait_for_status(_issue_tap(), OpStatus.SUCCEEDED, OpStatus.NEEDS_REVIEW, timeout=90)
    # then
    assert done.status == OpStatus.SUCCEEDED
    assert simtenant.user(MARIO)["taps_issued"] == 1


def test_worker_rejected_token_fails_the_operation(simtenant, celery_worker):
    # given
    simtenant.reject_tokens()
    # when
    done = wait_for_status(_issue_tap(), OpStatus.FAILED, OpStatus.SUCCEEDED)
    # then
    assert done.error_code == "InvalidAuthenticationToken"
    assert done.retryable is True
    assert simtenant.user(MARIO)["taps_issued"] == 0


def test_worker_tap_policy_off_fails_the_operation(simtenant, celery_worker):
    # given
    simtenant.tap_policy(state="disabled")
    # when
    done = wait_for_status(_issue_tap(), OpStatus.FAILED, OpStatus.SUCCEEDED)
    # then
    assert done.error_code == "tap_policy_disabled"
    assert simtenant.user(MARIO)["taps_issued"] == 0

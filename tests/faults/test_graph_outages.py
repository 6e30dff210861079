"""Graph misbehaving while a case is carried out by a real worker: bursts of 429 and 5xx, calls
that time out, and the token endpoint unreachable. Every step ends done exactly once, one pass
at most, the agent's page says what is going on, and the case finishes when Graph recovers."""

from __future__ import annotations

import pytest

from graphops.models import GraphOperation, Kind, OpStatus
from tests.conftest import sign_in
from tests.faults.conftest import (
    UPN,
    Relay,
    directory_facts,
    in_background,
    tap_operations,
    tap_posts,
    verified_case,
    wait_for_ticket,
    wait_until,
)
from tests.tickets.casework import staff
from tickets import workflow
from tickets.models import Status, TapChannel

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TAP_POST = {"method": "POST", "path_contains": "temporaryAccessPassMethods"}


def _operation(ticket, kind: str) -> GraphOperation:  # type: ignore[no-untyped-def]
    return GraphOperation.objects.get(correlation=ticket.reference, kind=kind)


def test_bursts_of_429_and_5xx_and_a_timeout_end_in_one_pass(
    simtenant, start_worker, run_operation
) -> None:  # type: ignore[no-untyped-def]
    # given Graph throttles and fails on every step of an approved case
    facts = directory_facts(run_operation)
    simtenant.fault(status=503, count=2, retry_after=1, path_contains="revokeSignInSessions")
    simtenant.fault(status=429, count=2, retry_after=1, method="DELETE", path_contains="Methods/")
    simtenant.fault(
        delay_seconds=5, count=1, method="GET", path_contains="authenticationMethodConfigurations"
    )
    simtenant.fault(status=429, count=3, retry_after=1, **TAP_POST)
    starting = in_background(start_worker, 1)
    ticket, _agent = verified_case(facts)
    starting.result()
    # when
    workflow.approve(ticket, by=staff("approver", ["approver"]))
    wait_for_ticket(ticket, Status.EXECUTED, Status.FAILED, timeout=55)
    # then each step succeeded after its retries, and one pass exists
    assert ticket.status == Status.EXECUTED
    revoke = _operation(ticket, Kind.REVOKE_SESSIONS)
    delete = _operation(ticket, Kind.DELETE_METHODS)
    [tap] = tap_operations(ticket)
    assert (revoke.status, revoke.attempts) == (OpStatus.SUCCEEDED, 3)
    assert delete.status == OpStatus.SUCCEEDED and delete.attempts >= 2
    assert (tap.status, tap.attempts) == (OpStatus.SUCCEEDED, 5)  # one timeout, three 429s
    assert simtenant.user(UPN)["taps_issued"] == 1 and tap_posts(simtenant, ticket) == 4
    assert workflow.reveal_tap(ticket, channel=TapChannel.REQUESTER)


def test_tap_post_timing_out_is_never_sent_again_without_a_person(
    simtenant, start_worker, run_operation
) -> None:  # type: ignore[no-untyped-def]
    # given the TAP POST reaches Graph, which is slow: it acts after the worker gave up waiting
    facts = directory_facts(run_operation)
    simtenant.fault(delay_seconds=5, count=1, **TAP_POST)
    starting = in_background(start_worker, 1)
    ticket, _agent = verified_case(facts, revoke_sessions=False)
    starting.result()
    # when
    workflow.approve(ticket, by=staff("approver", ["approver"]))
    wait_for_ticket(ticket, Status.FAILED, Status.EXECUTED, timeout=55)
    # then Graph showed no pass at the timeout, but may still have been creating one (it was):
    # no second POST, the case waits for a person
    assert ticket.status == Status.FAILED
    [tap] = tap_operations(ticket)
    assert tap.status == OpStatus.NEEDS_REVIEW and tap.error_code == "tap_outcome_unknown"
    wait_until(lambda: simtenant.user(UPN)["taps_issued"] == 1, what="the late pass")
    assert tap_posts(simtenant, ticket) == 1 and tap.secret_ciphertext == ""


def test_tap_post_timing_out_after_graph_acted_goes_to_a_person(
    simtenant, start_worker, run_operation, client
) -> None:  # type: ignore[no-untyped-def]
    # given Graph creates the pass, then answers too late
    facts = directory_facts(run_operation)
    simtenant.fault(delay_seconds=5, delay_after_action=True, count=1, **TAP_POST)
    starting = in_background(start_worker, 1)
    ticket, agent = verified_case(facts, revoke_sessions=False)
    starting.result()
    # when
    workflow.approve(ticket, by=staff("approver", ["approver"]))
    wait_for_ticket(ticket, Status.FAILED, Status.EXECUTED, timeout=55)
    # then no second POST: the case waits for a person, and the agent's page says why
    assert ticket.status == Status.FAILED
    [tap] = tap_operations(ticket)
    assert tap.status == OpStatus.NEEDS_REVIEW and tap.error_code == "tap_created_value_lost"
    assert simtenant.user(UPN)["taps_issued"] == 1
    sign_in(client, agent)
    page = client.get(f"/staff/tickets/{ticket.pk}/").content.decode()
    assert "Execution failed" in page and tap.error_message[:40] in page


def test_token_endpoint_down_holds_the_case_until_it_is_back(
    simtenant, start_worker, run_operation, client
) -> None:  # type: ignore[no-untyped-def]
    # given the worker reaches the token endpoint through a relay that is switched off
    relay = Relay(int(simtenant.login_url.rsplit(":", 1)[1]))
    relay.down()
    facts = directory_facts(run_operation)
    starting = in_background(
        lambda: start_worker(SIMTENANT_LOGIN_URL=f"https://127.0.0.1:{relay.port}"), 1
    )
    ticket, agent = verified_case(facts)
    starting.result()
    # when the case is approved while Entra's token endpoint cannot be reached
    workflow.approve(ticket, by=staff("approver", ["approver"]))
    first = wait_until(
        lambda: (op := _operation(ticket, Kind.REVOKE_SESSIONS)).attempts >= 2 and op,
        what="two refused attempts",
    )
    # then the step waits (PENDING, retryable) with the reason on the agent's page
    assert first.status in (OpStatus.PENDING, OpStatus.RUNNING)
    assert first.error_code == "token_authority_unreachable"
    sign_in(client, agent)
    page = client.get(f"/staff/tickets/{ticket.pk}/").content.decode()
    assert "Being carried out" in page and "Entra refused the portal" in page
    # when the endpoint is back
    relay.up()
    # then the case finishes by itself, one pass, nothing done twice
    wait_for_ticket(ticket, Status.EXECUTED, Status.FAILED, timeout=40)
    assert ticket.status == Status.EXECUTED
    assert simtenant.user(UPN)["taps_issued"] == 1 and tap_posts(simtenant, ticket) == 1
    revoke_posts = [r for r in simtenant.requests() if "revokeSignInSessions" in r["path"]]
    assert len(revoke_posts) == 1

"""The "Containment" section of the staff case page: after "this wasn't me" on an executed case,
each containment operation (run on the simulated tenant, real msal + msgraph-sdk over HTTP) shows
what it does, its state and when it finished; anything not done raises a warning."""

from __future__ import annotations

from html import escape

import pytest
from django.urls import reverse

from graphops.models import GraphOperation, Kind, OpStatus
from tests.tickets import casework
from tests.tickets.casework import make_manager, make_ticket, verify
from tickets import intake, plans, workflow
from tickets.models import ContainmentAction, NotMeLink, RecoveryStep, Status, Ticket

pytestmark = pytest.mark.django_db

UPN = "mario.rossi@contoso.example"
TAP_TYPE = "temporaryAccessPassAuthenticationMethod"
DELETE_PASS = "Delete the Temporary Access Pass, so it can no longer be used to sign in"
REVOKE = "Revoke the account&#x27;s sign-in sessions, signing out whoever used the pass"
NOT_COMPLETE = "Containment is NOT complete"
IN_PROGRESS = "Containment is not complete yet."


def _run(run_operation, operation: GraphOperation) -> GraphOperation:  # type: ignore[no-untyped-def]
    """Run a ledger row here as the worker would, its outcome signal delivered after commit."""
    with casework.committed():
        return run_operation(operation)  # type: ignore[no-any-return]


@pytest.fixture
def executed_case(simtenant, run_operation, agent, approver):  # type: ignore[no-untyped-def]
    """A case for a real account of the simulated tenant, carried out step by step: EXECUTED."""
    lookup = GraphOperation.objects.create(kind=Kind.DIRECTORY_LOOKUP, target_upn=UPN)
    facts = run_operation(lookup).result
    manager_upn = facts["manager"]["userPrincipalName"].lower()
    ticket = make_ticket(upn=UPN, manager_upn=manager_upn, directory_facts=facts)
    lost = tuple(plans.lost_device_method_ids(ticket))
    verify(ticket, agent, the_plan=casework.plan(method_ids_to_remove=lost))
    workflow.decide_as_manager(
        casework.last_link_token(), by=make_manager(email=manager_upn), confirm=True, reason="Ok"
    )
    workflow.approve(ticket, by=approver)
    for _ in range(10):
        ticket.refresh_from_db()
        if ticket.status != Status.EXECUTING:
            break
        step = RecoveryStep.objects.filter(ticket=ticket, operation_id__isnull=False).last()
        _run(run_operation, GraphOperation.objects.get(pk=step.operation_id))
    assert ticket.status == Status.EXECUTED
    assert any(m["type"] == TAP_TYPE for m in simtenant.user(UPN)["methods"])
    return ticket


def _report_not_me(ticket: Ticket) -> None:
    token = intake.mint_not_me_token(ticket, recipient=NotMeLink.Recipient.ACCOUNT, sent_to=UPN)
    assert token is not None
    with casework.committed():
        intake.report_not_me(token)


def _containment_operations(ticket: Ticket) -> dict[str, GraphOperation]:
    ids = ContainmentAction.objects.filter(ticket=ticket).values_list("operation_id", flat=True)
    return {op.kind: op for op in GraphOperation.objects.filter(pk__in=list(ids))}


def _case_page(mfa_client, user, ticket: Ticket) -> str:  # type: ignore[no-untyped-def]
    response = mfa_client(user).get(reverse("staff_ticket", args=[ticket.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_case_page_shows_each_containment_operation_and_its_outcome(
    executed_case, simtenant, run_operation, mfa_client, security
) -> None:  # type: ignore[no-untyped-def]
    # given an executed case the account holder reports as "not me"
    ticket = executed_case
    _report_not_me(ticket)
    ops = _containment_operations(ticket)
    assert set(ops) == {Kind.DELETE_METHODS, Kind.REVOKE_SESSIONS}
    # when the page is read before the operations ran
    page = _case_page(mfa_client, security, ticket)
    # then both are listed as queued, with the "not complete yet" warning
    assert 'id="contain-h"' in page
    assert DELETE_PASS in page and REVOKE in page
    assert page.count(">Queued</span>") == 2
    assert IN_PROGRESS in page and NOT_COMPLETE not in page
    # when the operations run against the tenant
    for op in ops.values():
        assert _run(run_operation, op).status == OpStatus.SUCCEEDED
    # then the pass is gone in the tenant and the page shows both done, with their finish time
    assert not any(m["type"] == TAP_TYPE for m in simtenant.user(UPN)["methods"])
    page = _case_page(mfa_client, security, ticket)
    assert page.count(">Done</span>") == 2
    for op in ops.values():
        op.refresh_from_db()
        assert op.finished_at is not None
        assert f'<time datetime="{op.finished_at.isoformat()}' in page
    assert IN_PROGRESS not in page and NOT_COMPLETE not in page


def test_case_page_shows_a_failed_containment_operation_and_the_warning(
    executed_case, simtenant, run_operation, mfa_client, security
) -> None:  # type: ignore[no-untyped-def]
    # given an executed case reported as "not me", and Graph refusing to revoke the sessions
    ticket = executed_case
    _report_not_me(ticket)
    ops = _containment_operations(ticket)
    simtenant.fault(status=403, count=5, path_contains="revokeSignInSessions")
    # when the containment operations run
    revoke = _run(run_operation, ops[Kind.REVOKE_SESSIONS])
    deleted = _run(run_operation, ops[Kind.DELETE_METHODS])
    # then the revocation failed with Graph's reason, the deletion succeeded
    assert revoke.status == OpStatus.FAILED and revoke.error_message
    assert deleted.status == OpStatus.SUCCEEDED
    page = _case_page(mfa_client, security, ticket)
    assert ">Failed</span>" in page and f"— {escape(revoke.error_message)}" in page
    assert ">Done</span>" in page
    assert NOT_COMPLETE in page and 'role="alert"' in page


def test_case_page_containment_section_has_a_constant_query_count(
    executed_case,
    mfa_client,
    security,
    agent,
    django_assert_num_queries,
    django_assert_max_num_queries,
) -> None:  # type: ignore[no-untyped-def]
    # given a contained case, read once to count its queries
    ticket = executed_case
    _report_not_me(ticket)
    _case_page(mfa_client, security, ticket)
    with django_assert_max_num_queries(80) as few:
        page = _case_page(mfa_client, security, ticket)
    assert page.count(">Queued</span>") == 2
    # when a fraud flag contains the case again (two more operations)
    with casework.committed():
        workflow.flag_fraud(ticket, by=agent, reason="The caller hung up when asked for the badge.")
    # then the page lists four operations with the same number of queries
    with django_assert_num_queries(len(few.captured_queries)):
        page = _case_page(mfa_client, security, ticket)
    assert page.count(">Queued</span>") == 4


def test_case_page_without_containment_has_no_containment_section(
    executed_case, mfa_client, security
) -> None:  # type: ignore[no-untyped-def]
    page = _case_page(mfa_client, security, executed_case)
    assert 'id="contain-h"' not in page
    assert "<script>" not in page and ' style="' not in page

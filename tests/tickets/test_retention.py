"""tickets.retention: a case purged from the audit trail loses its own personal fields too."""

from __future__ import annotations

import pytest

from audit.tasks import purge_personal_data as audit_purge_task
from audit.verify import verify_chain
from tests.tickets.casework import make_ticket, verify
from tickets import retention, workflow
from tickets.models import ManagerConfirmation, Ticket, Verification

pytestmark = pytest.mark.django_db


def test_purge_personal_data_follows_the_audit_purge_of_a_closed_case(  # type: ignore[no-untyped-def]
    agent, settings, django_capture_on_commit_callbacks
) -> None:
    # given a verified case, closed, past a retention period of zero days
    ticket = make_ticket(department="Finance", details="Lost it on the train", blocked_work="SAP")
    verify(ticket, agent)
    workflow.close(ticket, by=agent, reason="Duplicate of a phone call")
    settings.AUDIT_RETENTION_DAYS = 0
    # when the audit purge task runs and commits
    with django_capture_on_commit_callbacks(execute=True):
        audit_purge_task.apply()
    # then the ticket's personal fields are gone, its shape stays
    ticket.refresh_from_db()
    assert (ticket.full_name, ticket.upn, ticket.department) == ("", retention.PURGED_UPN, "")
    assert (ticket.alternate_phone, ticket.alternate_email, ticket.manager_upn) == ("", "", "")
    assert (ticket.details, ticket.blocked_work, ticket.directory_facts) == ("", "", {})
    assert ticket.status == "closed" and ticket.what_happened
    round_ = Verification.objects.get(ticket=ticket)
    assert (round_.evidence, round_.callback_number, round_.liveness_prompts) == ("", "", [])
    confirmation = ManagerConfirmation.objects.get(ticket=ticket)
    assert confirmation.manager_upn == retention.PURGED_UPN and confirmation.reason == ""
    # and the audit chain still verifies
    report = verify_chain()
    assert report.ok, report.broken


def test_purge_personal_data_leaves_other_cases_alone(agent) -> None:  # type: ignore[no-untyped-def]
    # given two cases
    purged = make_ticket(reference="RP-PURGE01")
    kept = make_ticket(reference="RP-KEEP001", upn="anna.verdi@contoso.example")
    # when
    count = retention.purge_personal_data([purged.reference])
    # then
    assert count == 1
    assert Ticket.objects.get(pk=kept.pk).upn == "anna.verdi@contoso.example"
    assert Ticket.objects.get(pk=purged.pk).full_name == ""


def test_purge_personal_data_is_idempotent() -> None:
    # given a purged case
    ticket = make_ticket()
    retention.purge_personal_data([ticket.reference])
    # when purged again
    count = retention.purge_personal_data([ticket.reference])
    # then the same blanks stand
    ticket.refresh_from_db()
    assert count == 1 and ticket.upn == retention.PURGED_UPN

"""The security suite's cast: every kind of visitor, and a case to knock with."""

from __future__ import annotations

from typing import Any

import pytest

from recovery_portal import health
from tests.tickets.casework import last_link_token, make_manager, make_ticket, staff, verify


@pytest.fixture
def cast(db) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The visitors, and a case verified by another agent, waiting for its manager."""
    from tickets.views.public import TRIAGE_QUESTIONS

    people: dict[str, Any] = {
        "anonymous": None,
        "outsider": staff("outsider", []),
        "agent": staff("agent", ["helpdesk_agent"]),
        "approver": staff("approver", ["approver"]),
        "security": staff("security", ["security_officer"]),
        "auditor": staff("auditor", ["auditor"]),
        "manager": make_manager(),
    }
    ticket = make_ticket()
    verify(ticket, staff("verifier", ["helpdesk_agent"]))
    case = {
        "pk": ticket.pk,
        "reference": ticket.reference,
        "step": next(s for s in TRIAGE_QUESTIONS if s != "account"),
        "token": last_link_token(),
    }
    health.record_worker_heartbeat()  # the probe answers 200 only with a live worker
    return {"people": people, "case": case}

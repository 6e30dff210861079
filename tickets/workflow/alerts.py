"""Alerts to the security officers: owed mail, sent by the worker (tickets.outbox)."""

from __future__ import annotations

from tickets import outbox
from tickets.models import Ticket
from tickets.workflow.transitions import is_privileged


def alert_security(ticket: Ticket, *, headline: str, detail: str) -> None:
    """Owe the security officers an alert about ``ticket``: HIGH for a privileged account.

    Call inside the transaction of what the alert is about: it is owed if that commits. The
    headline and detail are stored to render the mail (staff-facing text, never a secret).
    """
    outbox.owe_security_alert(
        ticket, headline=headline, detail=detail, urgent=is_privileged(ticket)
    )

"""The directory lookup's outcome on the ticket, and the notices it sets off."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from audit import log
from audit.actions import Action
from graphops.models import GraphOperation, Kind, OpStatus
from tickets.intake import notices
from tickets.models import (
    DirectoryState,
    Ticket,
)

# --- The directory lookup's outcome ----------------------------------------------------------

_NOT_FOUND_CODES = {"not_found", "request_resourcenotfound", "resourcenotfound", "404"}
_USER_FACTS = (
    "id",
    "userPrincipalName",
    "displayName",
    "accountEnabled",
    "department",
    "jobTitle",
    "employeeId",
    "mail",
    "onPremisesSyncEnabled",
)


def _lookup_outcome(operation: GraphOperation) -> tuple[str, dict[str, Any]]:
    if operation.status == OpStatus.SUCCEEDED:
        result = operation.result or {}
        user = result.get("user")
        if not user:
            return DirectoryState.NOT_FOUND, {}
        manager = result.get("manager") or None
        facts = {
            "user": {k: user.get(k) for k in _USER_FACTS if k in user},
            "manager": (
                {k: manager.get(k) for k in ("id", "displayName", "userPrincipalName", "mail")}
                if manager
                else None
            ),
            "is_privileged": bool(result.get("is_privileged")),
            "privileged_roles": [
                {k: r.get(k) for k in ("displayName", "templateId", "via")}
                for r in result.get("privileged_roles", [])
            ],
            "methods": [
                {k: m.get(k) for k in ("id", "type", "displayName", "createdDateTime")}
                for m in result.get("methods", [])
            ],
        }
        return DirectoryState.FOUND, facts
    if operation.error_code.lower() in _NOT_FOUND_CODES:
        return DirectoryState.NOT_FOUND, {}
    return DirectoryState.UNREACHABLE, {"error_code": operation.error_code}


def on_operation_finished(sender: object, *, operation: GraphOperation, **_: object) -> None:
    """Receiver of graphops' ``operation_finished``: directory lookups of intake tickets.

    Runs in the announcement's transaction (graphops/signals.py): an error propagates, so the
    lookup stays unannounced and graphops delivers it again; a repeated delivery changes nothing.
    """
    if operation.kind != Kind.DIRECTORY_LOOKUP or not operation.correlation:
        return
    ticket = Ticket.objects.filter(reference=operation.correlation).first()
    if ticket is not None:
        record_directory_lookup(ticket, operation=operation)


@transaction.atomic
def record_directory_lookup(ticket: Ticket, *, operation: GraphOperation) -> Ticket:
    """Store what the directory said about the ticket's account, and owe the account's own
    mailbox and its manager of record a notice (sent by the worker, re-sent until it leaves).

    Idempotent: a second delivery of the same outcome changes nothing and mails nobody twice
    (each recipient is owed one notice, with one "this wasn't me" link, per ticket). A FOUND
    answer is final; an UNREACHABLE one may be replaced by a later retry's answer.
    """
    state, facts = _lookup_outcome(operation)
    changes: dict[str, Any] = {"directory_state": state, "directory_facts": facts}
    if state == DirectoryState.FOUND:
        manager = facts.get("manager") or {}
        changes["is_privileged"] = facts["is_privileged"]
        changes["manager_upn"] = (manager.get("userPrincipalName") or "").lower()
    # UNREACHABLE again (the same outcome delivered twice, or a retry that failed too) says
    # nothing new: only an answer replaces it.
    replaceable = [DirectoryState.PENDING]
    if state != DirectoryState.UNREACHABLE:
        replaceable.append(DirectoryState.UNREACHABLE)
    moved = Ticket.objects.filter(pk=ticket.pk, directory_state__in=replaceable).update(
        **changes, updated_at=timezone.now()
    )
    ticket.refresh_from_db()
    if not moved:
        return ticket
    log.record(
        Action.DIRECTORY_CHECKED,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        data={
            "state": state,
            "operation_id": str(operation.pk),
            "privileged": ticket.is_privileged,
            "has_manager": bool(ticket.manager_upn),
        },
    )
    if state != DirectoryState.NOT_FOUND:
        notices.owe_recovery_requested(ticket)
    return ticket


def notify_account_and_manager(ticket_id: int) -> None:
    """Owe the account's own mailbox and its manager of record a notice that a recovery was
    asked for, each with their own "this wasn't me" link; sent by the worker, re-sent by the
    beat until it leaves. Each recipient is told at most once per ticket.
    """
    with transaction.atomic():
        notices.owe_recovery_requested(Ticket.objects.get(pk=ticket_id))

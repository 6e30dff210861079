"""Shared steps for the workflow tests: a case with directory facts, the manager, the steps of
the workflow taken by the cast, and a stand-in for graphops' worker finishing an operation."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

from allauth.mfa.models import Authenticator
from django.core import mail
from django.test import TestCase
from django.utils import timezone

from graphops import sealing
from graphops.models import GraphOperation, OpStatus
from tests.conftest import enrol_totp
from tests.factories import TicketFactory, UserFactory
from tickets import notifications, workflow
from tickets.models import MethodRemoval, TapChannel, Ticket, VerificationMethod
from tickets.plans import Plan

MANAGER_UPN = "giulia.bianchi@contoso.example"
REQUESTER_EMAIL = "mario.personal@example.org"
TRUSTED_PHONE = "+39 02 5555 0101"

FACTS: dict[str, Any] = {
    "user": {
        "id": "0000-user",
        "displayName": "Mario Rossi",
        "accountEnabled": True,
        "department": "Finance",
        "jobTitle": "Controller",
        "mobilePhone": TRUSTED_PHONE,
        "onPremisesSyncEnabled": True,
    },
    "manager": {"displayName": "Giulia Bianchi", "userPrincipalName": MANAGER_UPN},
    "is_privileged": False,
    "privileged_roles": [],
    "methods": [
        {"id": "m-auth", "type": "microsoftAuthenticator", "displayName": "Pixel 7"},
        {"id": "m-phone", "type": "phone", "displayName": "+39 *** 0101"},
        {"id": "m-fido", "type": "fido2", "displayName": "YubiKey"},
    ],
}


def make_ticket(**fields: Any) -> Ticket:
    values: dict[str, Any] = {
        "upn": "mario.rossi@contoso.example",
        "full_name": "Mario Rossi",
        "alternate_email": REQUESTER_EMAIL,
        "alternate_phone": "+39 333 000 0000",
        "manager_upn": MANAGER_UPN,
        "is_privileged": False,
        "directory_state": "found",
        "directory_facts": FACTS,
    }
    values.update(fields)
    return TicketFactory(**values)


def make_manager(email: str = MANAGER_UPN, username: str = "giulia") -> Any:
    """The manager of record: a staff account with no role at all (MFA enrolled)."""
    user = UserFactory(username=username, email=email, roles=[])
    enrol_totp(user)
    return user


def staff(username: str, roles: list[str], **fields: Any) -> Any:
    user = UserFactory(username=username, roles=roles, **fields)
    enrol_totp(user)
    return user


def plan(**changes: Any) -> Plan:
    values: dict[str, Any] = {
        "issue_tap": True,
        "tap_lifetime_minutes": 60,
        "tap_usable_once": True,
        "tap_channel": TapChannel.REQUESTER,
        "remove_methods": MethodRemoval.LOST_DEVICE,
        "method_ids_to_remove": ("m-auth",),
        "revoke_sessions": True,
    }
    values.update(changes)
    return Plan(**values)


def evidence(method: str = VerificationMethod.IN_PERSON, **changes: Any) -> workflow.Evidence:
    values: dict[str, Any] = {
        "method": method,
        "notes": "Came to the desk; badge photo and face match; badge number checked.",
    }
    values.update(changes)
    return workflow.Evidence(**values)


def deliver_mail() -> int:
    """What the worker does with the mail owed so far (tickets.send_due_mail), in this process:
    the mails land in Django's test outbox. Returns how many left."""
    return notifications.send_due_mail()


@contextmanager
def committed() -> Iterator[None]:
    """Run the after-commit side effects of what happens inside, as production would, then the
    worker's part: the mail owed is sent."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        yield
    deliver_mail()


def verify(ticket: Ticket, agent: Any, *, the_plan: Plan | None = None) -> Any:
    """The agent claims the case and records an in-person verification (the mails go out)."""
    workflow.claim(ticket, by=agent)
    with committed():
        return workflow.verify_identity(
            ticket, by=agent, evidence=evidence(), plan=the_plan or plan()
        )


def last_link_token() -> str:
    """The token of the last manager link mailed (the mail is the only place it exists)."""
    for message in reversed(mail.outbox):
        found = re.search(r"/staff/manager/\?t=([\w:.\-%]+)", message.body)
        if found:
            return unquote(found.group(1))
    raise AssertionError("no manager link was mailed")


def finish(
    operation: GraphOperation,
    *,
    status: str = OpStatus.SUCCEEDED,
    result: dict[str, Any] | None = None,
    secret: str = "",
    error: str = "",
    retryable: bool = False,
) -> GraphOperation:
    """What graphops' worker does when an operation ends: the row moves, the signal is sent."""
    GraphOperation.objects.filter(pk=operation.pk).update(
        status=status,
        result=result or {},
        secret_ciphertext=sealing.seal(secret) if secret else "",
        error_message=error,
        error_code="badRequest" if error else "",
        retryable=retryable,
        finished_at=timezone.now(),
    )
    operation.refresh_from_db()
    workflow.on_operation_finished(sender=None, operation=operation)
    return operation


def reauthenticated(client: Any, user: Any) -> Any:
    """Mark the client's session as freshly re-authenticated with the user's TOTP (allauth's
    records)."""
    totp = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    session = client.session
    session["account_authentication_methods_user"] = str(user.pk)
    session["account_authentication_methods"] = [
        {"method": "mfa", "type": "totp", "id": totp.pk, "at": time.time(), "reauthenticated": True}
    ]
    session.save()
    return client

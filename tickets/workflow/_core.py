"""Shared by the workflow's modules: refusals, the compare-and-swap move, who is who, alerts."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from audit import log
from audit.actions import Action
from tickets import policy as policy_module
from tickets.models import (
    Status,
    Ticket,
    Verification,
)
from tickets.roles import Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    # Who acts: the signed-in staff member (an anonymous one is refused by the guards).
    Staff = User | AnonymousUser

P = ParamSpec("P")
R = TypeVar("R")

PRE_EXECUTION = (Status.NEW, Status.IN_VERIFICATION, Status.VERIFIED, Status.APPROVED)
POST_EXECUTION = (Status.EXECUTING, Status.EXECUTED, Status.FAILED, Status.RESTORED)


class TransitionRefused(Exception):
    """The ticket is not in a state (or the person not in a position) to make this move."""


class DutyConflict(TransitionRefused):
    """A separation-of-duties rule forbids this person this step of this case."""

    def __init__(self, message: str, *, rule: str, ticket: Ticket) -> None:
        super().__init__(message)
        self.rule = rule
        self.ticket = ticket


def _audits_refusals(function: Callable[P, R]) -> Callable[P, R]:
    """Record a separation-of-duties refusal (outcome "denied") after the refused step's
    transaction has rolled back, so the record survives the refusal."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except DutyConflict as exc:
            with transaction.atomic():
                log.record(
                    Action.SOD_REFUSED,
                    actor=kwargs.get("by"),  # type: ignore[arg-type]
                    request=kwargs.get("request"),  # type: ignore[arg-type]
                    ticket_ref=exc.ticket.reference,
                    outcome="denied",
                    data={"rule": exc.rule},
                )
            raise

    return wrapper


class LinkInvalid(Exception):
    """A manager link that is forged, expired, superseded or already used."""


def _move(ticket: Ticket, *, from_: Iterable[str], to: str, **fields: Any) -> Ticket:
    """Compare-and-swap: only moves the ticket if nobody moved it meanwhile."""
    allowed = list(from_)
    updated = Ticket.objects.filter(pk=ticket.pk, status__in=allowed).update(
        status=to, updated_at=timezone.now(), **fields
    )
    if updated != 1:
        ticket.refresh_from_db()
        raise TransitionRefused(
            _("Ticket %(ref)s is “%(status)s” now: someone moved it meanwhile; reload the page.")
            % {"ref": ticket.reference, "status": ticket.get_status_display()}
        )
    ticket.refresh_from_db()
    return ticket


def _lock(ticket: Ticket) -> Ticket:
    """Lock the ticket row for this transaction: steps of one case are taken one at a time."""
    return Ticket.objects.select_for_update().get(pk=ticket.pk)


def _require(user: Any, *perms: str) -> None:
    if not getattr(user, "is_authenticated", False) or not any(user.has_perm(p) for p in perms):
        raise PermissionDenied("Your role does not allow this step.")


def identities_of(user: Any, *, verified_only: bool = False) -> set[str]:
    """The lower-cased names and addresses that identify ``user`` (account, e-mail, Entra UPN)."""
    from allauth.account.models import EmailAddress
    from allauth.socialaccount.models import SocialAccount

    names = {user.get_username().lower(), (user.email or "").lower()}
    emails = EmailAddress.objects.filter(user=user)
    if verified_only:
        emails = emails.filter(verified=True)
    names |= {e.lower() for e in emails.values_list("email", flat=True)}
    for extra in SocialAccount.objects.filter(user=user).values_list("extra_data", flat=True):
        for key in ("userPrincipalName", "mail", "email", "preferred_username"):
            if isinstance(extra, dict) and extra.get(key):
                names.add(str(extra[key]).lower())
    names.discard("")
    return names


def is_account_holder(user: Any, ticket: Ticket) -> bool:
    return ticket.upn.lower() in identities_of(user)


def is_requester(user: Any, ticket: Ticket) -> bool:
    """The person who asked claims to be the holder and gave an alternate contact."""
    alternate = (ticket.alternate_email or "").lower()
    return is_account_holder(user, ticket) or (bool(alternate) and alternate in identities_of(user))


def _refuse(ticket: Ticket, *, by: Any, rule: str, message: str, request: Any) -> None:
    raise DutyConflict(message, rule=rule, ticket=ticket)


def _check_not_party(ticket: Ticket, *, by: Any, request: Any) -> None:
    if is_account_holder(by, ticket):
        _refuse(
            ticket,
            by=by,
            rule="account_holder",
            message=_("You cannot take part in the recovery of your own account."),
            request=request,
        )
    if is_requester(by, ticket):
        _refuse(
            ticket,
            by=by,
            rule="requester",
            message=_("You asked for this recovery: someone else must handle it."),
            request=request,
        )


def active_verification(ticket: Ticket) -> Verification | None:
    return ticket.verifications.filter(active=True).first()


def is_privileged(ticket: Ticket) -> bool:
    if ticket.is_privileged is None:
        return policy_module.current().treat_unknown_as_privileged
    return bool(ticket.is_privileged)


def security_officer_emails() -> list[str]:
    from django.contrib.auth import get_user_model

    return list(
        get_user_model()
        .objects.filter(groups__name=Role.SECURITY.value, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )


def alert_security(subject: str, body: str) -> None:
    """Mail every security officer (after commit, by the caller)."""
    recipients = security_officer_emails()
    if recipients:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=True)


def _alert_after_commit(ticket: Ticket, headline: str, detail: str) -> None:
    severity = "HIGH" if is_privileged(ticket) else "normal"
    reference = ticket.reference
    transaction.on_commit(
        lambda: alert_security(
            f"[Recovery Portal] [{severity}] {headline}: {reference}",
            f"{detail}\n\nTicket {reference}: {settings.SITE_URL}/staff/",
        )
    )


def _mail(recipients: list[str], template: str, context: dict[str, Any]) -> None:
    if not recipients:
        return
    subject = render_to_string(f"{template}_subject.txt", context).strip()
    body = render_to_string(f"{template}.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=True)

"""Who may take a step: the role's permission, and separation of duties (nobody handles a
recovery they take part in), with every refusal on the record."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn, ParamSpec, TypeVar

from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _

from audit import log
from audit.actions import Action
from tickets.models import Ticket
from tickets.workflow.transitions import TransitionRefused

# Who acts: the signed-in staff member (an anonymous one is refused by the guards).
Staff = User | AnonymousUser

P = ParamSpec("P")
R = TypeVar("R")


class DutyConflict(TransitionRefused):
    """A separation-of-duties rule forbids this person this step of this case."""

    def __init__(self, message: str, *, rule: str, ticket: Ticket) -> None:
        super().__init__(message)
        self.rule = rule
        self.ticket = ticket


def audits_refusals(function: Callable[P, R]) -> Callable[P, R]:
    """Record a separation-of-duties refusal (outcome "denied") after the refused step's
    transaction has rolled back, so the record survives the refusal. Decorate a transition
    whose ``by`` and ``request`` are keyword arguments, outside its ``transaction.atomic``."""

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


def require(user: Any, *perms: str) -> None:
    """PermissionDenied unless ``user`` is signed in and holds one of ``perms``."""
    if not getattr(user, "is_authenticated", False) or not any(user.has_perm(p) for p in perms):
        raise PermissionDenied("Your role does not allow this step.")


def refuse(ticket: Ticket, *, rule: str, message: str) -> NoReturn:
    """Refuse the step for separation of duties (``rule`` goes on the record, ``message`` to
    the person)."""
    raise DutyConflict(message, rule=rule, ticket=ticket)


def identities_of(user: Any, *, verified_only: bool = False) -> set[str]:
    """The lower-cased names and addresses that identify ``user`` (account, e-mail, Entra UPN)."""
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
    """Whether ``user`` is the person whose account the case recovers."""
    return ticket.upn.lower() in identities_of(user)


def is_requester(user: Any, ticket: Ticket) -> bool:
    """The person who asked claims to be the holder and gave an alternate contact."""
    alternate = (ticket.alternate_email or "").lower()
    return is_account_holder(user, ticket) or (bool(alternate) and alternate in identities_of(user))


def check_not_party(ticket: Ticket, *, by: Any) -> None:
    """Refuse the account holder and the requester any step of their own case."""
    if is_account_holder(by, ticket):
        refuse(
            ticket,
            rule="account_holder",
            message=_("You cannot take part in the recovery of your own account."),
        )
    if is_requester(by, ticket):
        refuse(
            ticket,
            rule="requester",
            message=_("You asked for this recovery: someone else must handle it."),
        )

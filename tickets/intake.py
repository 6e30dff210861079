"""Public intake: triage counters, the request, the claim code, the directory lookup's outcome,
the "this wasn't me" link and the status page's access rules.

Nothing here may tell a visitor whether an account exists: the request is answered the same way
for every UPN (the directory is asked in the background, after commit), and the status page
answers "not recognised" the same way for an unknown reference and a wrong claim code.
Secrets (claim codes, link tokens) are returned to the caller once and stored only as hashes;
they never reach a log line, an audit event or a mail other than the one they are meant for.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext_lazy as _
from django_ratelimit.core import get_usage

from audit import actions, log
from graphops import operations
from graphops.models import GraphOperation, Kind, OpStatus
from tickets import notifications, workflow
from tickets.models import (
    OPEN_STATUSES,
    DirectoryState,
    NotMeLink,
    Status,
    Ticket,
    TriageDeflection,
    TriagePath,
)

logger = logging.getLogger(__name__)

# Crockford's base32: no I, L, O or U, so a code read out on the phone is not misheard.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CLAIM_CODE_LENGTH = 16  # 16 symbols × 5 bits = 80 bits of entropy
REFERENCE_LENGTH = 8  # "RP-XXXX-XXXX": not a secret, only short and unambiguous
_CLAIM_HASH_PREFIX = "hmac-sha256$"
_CLAIM_SALT = "tickets.intake.claim_code"
_NOT_ME_SALT = "tickets.intake.not_me"
_STATUS_GRANT_KEY = "tickets.status_grant"

STATUS_GRANT_SECONDS = 30 * 60


# --- Triage --------------------------------------------------------------------------------

# (question, answer) → the next question, or the path (a guide, or the request form) it ends on.
# The seeds' decision path: personal account → Microsoft's own recovery; backup on → restore;
# another method works → sign in with it; none of these → ask IT.
TRIAGE_NEXT: dict[tuple[str, str], str | TriagePath] = {
    ("account", "work"): "backup",
    ("account", "personal"): TriagePath.PERSONAL_ACCOUNT,
    ("backup", "yes"): TriagePath.BACKUP_RESTORE,
    ("backup", "no"): "other_method",
    ("backup", "unknown"): "other_method",
    ("other_method", "yes"): TriagePath.OTHER_METHOD,
    ("other_method", "no"): TriagePath.REQUEST_FORM,
}


# Counting is capped per client address, so that a script clicking through the triage cannot
# inflate the figures or grow the (append-only) audit trail without bound.
TRIAGE_COUNT_RATE = "20/h"


def triage_answer(
    step: str, answer: str, *, request: HttpRequest | None = None
) -> str | TriagePath:
    """Where an answer leads. Reaching a path counts one for it; a self-help path also records
    an audit event (the path only: no address, no personal data) for the reports."""
    target = TRIAGE_NEXT[(step, answer)]
    if not isinstance(target, TriagePath):
        return target
    if request is not None:
        verdict = _hit(request, group="triage:ip", value=None, rate=TRIAGE_COUNT_RATE)
        if verdict is Throttle.LIMITED:
            return target
    count_deflection(target)
    if target != TriagePath.REQUEST_FORM:
        log.record(actions.TRIAGE_DEFLECTED, data={"path": target.value})
    return target


def count_deflection(path: TriagePath | str) -> None:
    """Add one to today's counter for a triage path. No personal data: a path, a day, a count."""
    path = TriagePath(path)
    day = timezone.localdate()
    bumped = TriageDeflection.objects.filter(path=path, day=day).update(count=F("count") + 1)
    if bumped:
        return
    try:
        with transaction.atomic():
            TriageDeflection.objects.create(path=path, day=day, count=1)
    except IntegrityError:  # another request created today's row first
        TriageDeflection.objects.filter(path=path, day=day).update(count=F("count") + 1)


# --- Codes ---------------------------------------------------------------------------------


def _random_symbols(length: int) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def new_claim_code() -> str:
    """A fresh claim code, grouped for reading: XXXX-XXXX-XXXX-XXXX (80 bits)."""
    raw = _random_symbols(CLAIM_CODE_LENGTH)
    return "-".join(raw[i : i + 4] for i in range(0, CLAIM_CODE_LENGTH, 4))


_LOOK_ALIKES = str.maketrans("ILO", "110")


def normalize_code(value: str) -> str:
    """What a person types, as the canonical symbols: case, spaces, dashes and look-alikes."""
    cleaned = value.upper().translate(_LOOK_ALIKES)
    return "".join(ch for ch in cleaned if ch not in " -\t")


def normalize_reference(value: str) -> str:
    symbols = normalize_code(value)
    if symbols.startswith("RP"):
        symbols = symbols[2:]
    if len(symbols) != REFERENCE_LENGTH:
        return ""
    return f"RP-{symbols[:4]}-{symbols[4:]}"


def _new_reference() -> str:
    while True:
        raw = _random_symbols(REFERENCE_LENGTH)
        reference = f"RP-{raw[:4]}-{raw[4:]}"
        if not Ticket.objects.filter(reference=reference).exists():
            return reference


def hash_claim_code(reference: str, code: str, *, secret: str | None = None) -> str:
    """Keyed hash of a claim code, bound to its ticket's reference.

    HMAC-SHA256 keyed from SECRET_KEY: with 80 bits of entropy a slow hash adds nothing, and a
    stolen database alone does not let anyone test guesses offline (the key is not in it).
    """
    digest = salted_hmac(
        _CLAIM_SALT,
        f"{reference}:{normalize_code(code)}",
        secret=secret,
        algorithm="sha256",
    ).hexdigest()
    return _CLAIM_HASH_PREFIX + digest


def claim_code_matches(ticket_reference: str, stored_hash: str, code: str) -> bool:
    """Constant-time comparison, also against SECRET_KEY_FALLBACKS (key rotation)."""
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    matched = False
    for key in keys:
        candidate = hash_claim_code(ticket_reference, code, secret=key)
        matched |= constant_time_compare(candidate, stored_hash)
    return matched


_DUMMY_REFERENCE = "RP-0000-0000"
_DUMMY_HASH = _CLAIM_HASH_PREFIX + "0" * 64


def find_ticket_by_claim(reference: str, code: str) -> Ticket | None:
    """The ticket whose reference and claim code both match, else None.

    An unknown reference costs the same hashing as a wrong code, so the two cannot be told
    apart by their answer or (within reason) by their timing.
    """
    ref = normalize_reference(reference)
    ticket = Ticket.objects.filter(reference=ref).first() if ref else None
    if ticket is None:
        claim_code_matches(_DUMMY_REFERENCE, _DUMMY_HASH, code)
        return None
    if not claim_code_matches(ticket.reference, ticket.claim_code_hash, code):
        return None
    return ticket


# --- Throttles -------------------------------------------------------------------------------


class Throttle(enum.Enum):
    OK = "ok"
    LIMITED = "limited"
    UNAVAILABLE = "unavailable"  # the counter store (Redis) did not answer


def _rate(name: str) -> str:
    return str(getattr(settings, name))  # RP_*_RATE_* in recovery_portal/settings.py


def _hit(request: HttpRequest, *, group: str, value: str | None, rate: str) -> Throttle:
    """Count one attempt against (group, value); ``value=None`` counts per client IP."""
    key: Any = "ip" if value is None else (lambda _group, _request: value)
    try:
        usage = get_usage(request, group=group, key=key, rate=rate, increment=True)
    except Exception:  # redis-py raises its own ConnectionError/TimeoutError; any is "down"
        logger.warning("throttle store unreachable for %s", group)
        return Throttle.UNAVAILABLE
    if usage is None:
        return Throttle.OK
    if usage["limit"] == 0 and usage["count"] == 0:
        return Throttle.UNAVAILABLE  # django-ratelimit's "the cache failed" answer
    return Throttle.LIMITED if usage["should_limit"] else Throttle.OK


def _upn_key(upn: str) -> str:
    # A hash, so that no UPN sits in Redis keys in clear.
    return hashlib.sha256(upn.lower().encode()).hexdigest()


def intake_throttle(request: HttpRequest, *, upn: str) -> Throttle:
    """Per client IP, then per UPN. Fails open: a request must be filable when Redis is down
    (the ticket is what protects the employee; the limits only protect the queue)."""
    verdict = _hit(request, group="intake:ip", value=None, rate=_rate("RP_INTAKE_RATE_PER_IP"))
    if verdict is Throttle.LIMITED:
        return verdict
    verdict = _hit(
        request, group="intake:upn", value=_upn_key(upn), rate=_rate("RP_INTAKE_RATE_PER_UPN")
    )
    return Throttle.OK if verdict is Throttle.UNAVAILABLE else verdict


def status_throttle(request: HttpRequest, *, reference: str) -> Throttle:
    """Per client IP and per reference, counted on every attempt. Fails closed: with no
    counter store, claim codes could be guessed without limit, so nobody is let in."""
    verdict = _hit(request, group="status:ip", value=None, rate=_rate("RP_STATUS_RATE_PER_IP"))
    if verdict is not Throttle.OK:
        return verdict
    ref_key = normalize_reference(reference) or "invalid"
    return _hit(
        request, group="status:ref", value=ref_key, rate=_rate("RP_STATUS_RATE_PER_REFERENCE")
    )


# --- The request -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IntakeRequest:
    """The IT request template, validated (see tickets/forms_public.py)."""

    full_name: str
    upn: str
    department: str
    urgency: str
    blocked_work: str
    alternate_phone: str
    alternate_email: str
    what_happened: str
    methods_still_working: list[str]
    backup_enabled: str
    preferred_verification: str
    details: str


@dataclass(frozen=True)
class Receipt:
    """What the requester is shown once: the reference and the claim code (never stored)."""

    ticket: Ticket
    claim_code: str


def _lock_upn(upn: str) -> None:
    # Two requests for one UPN at the same moment must not both miss each other.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"intake:{upn}"])


@transaction.atomic
def submit_request(data: IntakeRequest, *, request: HttpRequest | None = None) -> Receipt:
    """File a recovery request: the ticket first, then the directory lookup (after commit).

    Answers the same for every UPN. A second open request for the same UPN is linked to the
    first (``duplicate_of``) and both are flagged for the agent. Side effects after commit: the
    lookup task (graphops), the reference-only mail to the alternate contact.
    """
    upn = data.upn.strip().lower()
    _lock_upn(upn)
    earlier = (
        Ticket.objects.filter(upn=upn, status__in=OPEN_STATUSES).order_by("created_at").first()
    )
    code = new_claim_code()
    reference = _new_reference()
    fields = {k: v for k, v in data.__dict__.items() if k != "upn"}
    ticket = Ticket.objects.create(
        reference=reference,
        upn=upn,
        claim_code_hash=hash_claim_code(reference, code),
        language=translation.get_language() or settings.LANGUAGE_CODE,
        **fields,
    )
    if earlier is not None:
        _link_duplicate(ticket, earlier)
    log.record(
        actions.TICKET_SUBMITTED,
        request=request,
        ticket_ref=ticket.reference,
        subject=upn,
        data={
            "what_happened": ticket.what_happened,
            "urgency": ticket.urgency,
            "duplicate_of": earlier.reference if earlier else "",
            "language": ticket.language,
        },
    )
    _request_lookup(ticket)
    ticket_id = ticket.pk
    transaction.on_commit(lambda: notifications.send_reference_to_alternate_contact(ticket_id))
    return Receipt(ticket=ticket, claim_code=code)


def _link_duplicate(ticket: Ticket, earlier: Ticket) -> None:
    first = earlier.duplicate_of or earlier
    reason = f"Another open request exists for this account: {first.reference}."
    Ticket.objects.filter(pk=ticket.pk).update(duplicate_of=first, flagged=True, flag_reason=reason)
    Ticket.objects.filter(pk=first.pk, flagged=False).update(
        flagged=True,
        flag_reason=f"A further request was filed for this account: {ticket.reference}.",
    )
    ticket.refresh_from_db()


def _request_lookup(ticket: Ticket) -> None:
    """Ask graphops for the directory facts. Whatever goes wrong, the ticket stays filed."""
    try:
        with transaction.atomic():
            operations.request_operation(
                Kind.DIRECTORY_LOOKUP, target_upn=ticket.upn, correlation=ticket.reference
            )
    except Exception:
        logger.exception("directory lookup could not be requested for %s", ticket.reference)
        Ticket.objects.filter(pk=ticket.pk).update(directory_state=DirectoryState.UNREACHABLE)


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
    """Receiver of graphops' ``operation_finished``: directory lookups of intake tickets."""
    if operation.kind != Kind.DIRECTORY_LOOKUP or not operation.correlation:
        return
    try:
        ticket = Ticket.objects.filter(reference=operation.correlation).first()
        if ticket is not None:
            record_directory_lookup(ticket, operation=operation)
    except Exception:  # a receiver must not raise; say so where someone will look
        logger.exception("directory lookup %s not recorded on its ticket", operation.pk)


@transaction.atomic
def record_directory_lookup(ticket: Ticket, *, operation: GraphOperation) -> Ticket:
    """Store what the directory said about the ticket's account, then tell the account's own
    mailbox and its manager of record (after commit).

    Idempotent: a second delivery of the same outcome changes nothing and mails nobody twice
    (each recipient gets one "this wasn't me" link per ticket). A FOUND answer is final; an
    UNREACHABLE one may be replaced by a later retry's answer.
    """
    state, facts = _lookup_outcome(operation)
    changes: dict[str, Any] = {"directory_state": state, "directory_facts": facts}
    if state == DirectoryState.FOUND:
        manager = facts.get("manager") or {}
        changes["is_privileged"] = facts["is_privileged"]
        changes["manager_upn"] = (manager.get("userPrincipalName") or "").lower()
    moved = Ticket.objects.filter(
        pk=ticket.pk,
        directory_state__in=[DirectoryState.PENDING, DirectoryState.UNREACHABLE],
    ).update(**changes, updated_at=timezone.now())
    ticket.refresh_from_db()
    if not moved:
        return ticket
    log.record(
        actions.DIRECTORY_CHECKED,
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
        ticket_id = ticket.pk
        transaction.on_commit(lambda: notify_account_and_manager(ticket_id))
    return ticket


def _recipients(ticket: Ticket) -> list[tuple[str, str]]:
    facts = ticket.directory_facts or {}
    user = facts.get("user") or {}
    manager = facts.get("manager") or {}
    found = [(NotMeLink.Recipient.ACCOUNT.value, (user.get("mail") or ticket.upn).lower())]
    manager_mail = (manager.get("mail") or ticket.manager_upn or "").lower()
    if manager_mail:
        found.append((NotMeLink.Recipient.MANAGER.value, manager_mail))
    return found


def notify_account_and_manager(ticket_id: int) -> None:
    """Tell the account's own mailbox and its manager of record that a recovery was asked
    for, each with their own "this wasn't me" link. Runs after commit; mails each at most once.
    """
    ticket = Ticket.objects.get(pk=ticket_id)
    for recipient, address in _recipients(ticket):
        token = mint_not_me_token(ticket, recipient=recipient, sent_to=address)
        if token is None:
            continue  # already told
        sent = notifications.send_recovery_requested(
            ticket, recipient=recipient, to=address, not_me_url=notifications.not_me_url(token)
        )
        if not sent:
            # Nobody holds this token: forget it so a later attempt may mail again.
            NotMeLink.objects.filter(ticket=ticket, recipient=recipient).delete()


# --- "This wasn't me" ------------------------------------------------------------------------


def _nonce_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def mint_not_me_token(ticket: Ticket, *, recipient: str, sent_to: str) -> str | None:
    """A signed, single-purpose token for one recipient's "this wasn't me" link.

    Returns None if that recipient already has a link for this ticket (so nobody is mailed
    twice). Only the hash of the token's random nonce is stored.
    """
    nonce = secrets.token_urlsafe(24)
    try:
        with transaction.atomic():
            NotMeLink.objects.create(
                ticket=ticket,
                recipient=recipient,
                sent_to=sent_to,
                nonce_hash=_nonce_hash(nonce),
            )
    except IntegrityError:
        return None
    return signing.dumps({"t": ticket.pk, "n": nonce}, salt=_NOT_ME_SALT, compress=True)


class NotMeLinkInvalid(Exception):
    """The link is forged, expired or already used."""


def open_not_me_link(token: str) -> NotMeLink:
    """The unused link a token stands for; raises NotMeLinkInvalid otherwise."""
    try:
        payload = signing.loads(
            token, salt=_NOT_ME_SALT, max_age=notifications.NOT_ME_LINK_DAYS * 24 * 3600
        )
        nonce = str(payload["n"])
        ticket_id = int(payload["t"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise NotMeLinkInvalid from None
    link = (
        NotMeLink.objects.select_related("ticket")
        .filter(ticket_id=ticket_id, nonce_hash=_nonce_hash(nonce), used_at__isnull=True)
        .first()
    )
    if link is None:
        raise NotMeLinkInvalid
    return link


@transaction.atomic
def report_not_me(token: str, *, request: HttpRequest | None = None) -> Ticket:
    """The account holder or manager says they did not ask for this recovery.

    Consumes the link (compare-and-swap on ``used_at``: single use), then hands over to
    ``workflow.report_not_me``: the case is frozen (and contained if already carried out) and
    the security officers are alerted after commit.
    """
    link = open_not_me_link(token)
    used = NotMeLink.objects.filter(pk=link.pk, used_at__isnull=True).update(used_at=timezone.now())
    if used != 1:
        raise NotMeLinkInvalid
    # Staff-facing text stays in English whatever the reporter's language.
    who = {"account": "account holder", "manager": "manager of record"}[link.recipient]
    reason = f"Reported as not requested by the {who} (e-mailed link)."
    ticket = workflow.report_not_me(link.ticket, reason=reason, request=request)
    log.record(
        actions.LINK_USED,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        data={"purpose": "not_me", "recipient": link.recipient, "status": ticket.status},
    )
    return ticket


# --- The status page -------------------------------------------------------------------------


class PublicStage(models.TextChoices):
    """Where the case stands, in the requester's words (the six steps they see)."""

    RECEIVED = "received", _("Received")
    VERIFYING = "verifying", _("Verifying identity")
    AWAITING_APPROVAL = "awaiting_approval", _("Awaiting approval")
    IN_PROGRESS = "in_progress", _("Being carried out")
    READY = "ready", _("Ready")
    CLOSED = "closed", _("Closed")


_STAGE_OF_STATUS = {
    Status.NEW: PublicStage.RECEIVED,
    Status.IN_VERIFICATION: PublicStage.VERIFYING,
    Status.VERIFIED: PublicStage.AWAITING_APPROVAL,
    Status.APPROVED: PublicStage.IN_PROGRESS,
    Status.EXECUTING: PublicStage.IN_PROGRESS,
    Status.FAILED: PublicStage.IN_PROGRESS,
    Status.EXECUTED: PublicStage.READY,
    Status.RESTORED: PublicStage.CLOSED,
    Status.CLOSED: PublicStage.CLOSED,
    # A frozen case shows where it stood; the page says it is on hold.
    Status.FROZEN: PublicStage.RECEIVED,
}


@dataclass(frozen=True)
class CaseView:
    """What the public status page may show about a case: nothing from the directory."""

    reference: str
    stage: PublicStage
    stages: list[tuple[str, str, str]]  # (value, label, "done" | "current" | "todo")
    on_hold: bool
    restored: bool
    show_checklist: bool
    status: str


def case_view(ticket: Ticket) -> CaseView:
    stage = _STAGE_OF_STATUS.get(Status(ticket.status), PublicStage.RECEIVED)
    order = list(PublicStage)
    position = order.index(stage)
    stages = [
        (s.value, str(s.label), "done" if i < position else "current" if i == position else "todo")
        for i, s in enumerate(order)
    ]
    return CaseView(
        reference=ticket.reference,
        stage=stage,
        stages=stages,
        on_hold=ticket.status == Status.FROZEN,
        restored=ticket.status == Status.RESTORED,
        show_checklist=stage in (PublicStage.READY, PublicStage.CLOSED),
        status=ticket.status,
    )


def grant_status_access(request: HttpRequest, ticket: Ticket) -> None:
    """Remember, in this browser session only, that the claim code for ``ticket`` was given.

    The session key is cycled (no fixation) and only the ticket id is kept, never the code.
    """
    log.record(
        actions.LINK_USED,
        request=request,
        ticket_ref=ticket.reference,
        subject=ticket.upn,
        data={"purpose": "status_page"},
    )
    request.session.cycle_key()
    request.session[_STATUS_GRANT_KEY] = {
        "ticket": ticket.pk,
        "until": int(time.time()) + STATUS_GRANT_SECONDS,
    }


def ticket_from_status_grant(request: HttpRequest) -> Ticket | None:
    """The ticket this session proved its claim code for, while the grant lasts, else None.

    The public reveal view uses this too (``/status/reveal/``)."""
    grant = request.session.get(_STATUS_GRANT_KEY)
    if not isinstance(grant, dict) or int(grant.get("until", 0)) < time.time():
        return None
    return Ticket.objects.filter(pk=int(grant.get("ticket", 0))).first()


def revoke_status_access(request: HttpRequest) -> None:
    request.session.pop(_STATUS_GRANT_KEY, None)

"""Rate limits of the public pages (django-ratelimit counters in Redis)."""

from __future__ import annotations

import enum
import hashlib
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django_ratelimit.core import get_usage

from audit import log
from audit.actions import Action
from audit.models import Outcome
from tickets.intake.codes import normalize_reference

logger = logging.getLogger(__name__)


# --- Throttles -------------------------------------------------------------------------------


class Throttle(enum.Enum):
    OK = "ok"
    LIMITED = "limited"
    UNAVAILABLE = "unavailable"  # the counter store (Redis) did not answer


def _rate(name: str) -> str:
    return str(getattr(settings, name))  # RP_*_RATE_* in recovery_portal/settings.py


def hit(request: HttpRequest, *, group: str, value: str | None, rate: str) -> Throttle:
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
    verdict = hit(request, group="intake:ip", value=None, rate=_rate("RP_INTAKE_RATE_PER_IP"))
    if verdict is Throttle.LIMITED:
        return verdict
    verdict = hit(
        request, group="intake:upn", value=_upn_key(upn), rate=_rate("RP_INTAKE_RATE_PER_UPN")
    )
    return Throttle.OK if verdict is Throttle.UNAVAILABLE else verdict


def status_throttle(request: HttpRequest, *, reference: str) -> Throttle:
    """Per client IP and per reference, counted on every attempt. Fails closed: with no
    counter store, claim codes could be guessed without limit, so nobody is let in."""
    verdict = hit(request, group="status:ip", value=None, rate=_rate("RP_STATUS_RATE_PER_IP"))
    if verdict is not Throttle.OK:
        return verdict
    ref_key = normalize_reference(reference) or "invalid"
    return hit(
        request, group="status:ref", value=ref_key, rate=_rate("RP_STATUS_RATE_PER_REFERENCE")
    )


# --- The mailed links: failed attempts only ---------------------------------------------------

# Which setting limits each link's failed attempts per client IP.
_LINK_RATES = {
    "not_me": "RP_NOT_ME_LINK_RATE_PER_IP",
    "manager": "RP_MANAGER_LINK_RATE_PER_IP",
}


def _client_ip(request: HttpRequest) -> str:
    return log.client_ip(request) or "-"


def _link_usage(request: HttpRequest, *, link: str, increment: bool) -> dict[str, Any] | None:
    """The failure counter of ``link`` for this client IP; raises if the store is down."""
    rate = _rate(_LINK_RATES[link])
    usage = get_usage(request, group=f"link:{link}:ip", key="ip", rate=rate, increment=increment)
    if usage is not None and usage["limit"] == 0 and usage["count"] == 0:
        raise ConnectionError("django-ratelimit could not read the counter")
    return usage


def link_throttle(request: HttpRequest, *, link: str) -> Throttle:
    """Whether a mailed link (``link``: "not_me" or "manager") may be looked at from here.

    Read before the token is: only failed attempts count (``link_rejected``), so one honest
    click is never slowed, but once this client IP reached the limit every token is refused
    until the window ends, a valid one too (it is not consumed), so guessing cannot succeed
    inside the window. Fails closed like the status page: without the counter store, tokens
    could be tried without limit.
    """
    try:
        usage = _link_usage(request, link=link, increment=False)
    except Exception:  # redis-py raises its own ConnectionError/TimeoutError; any is "down"
        verdict = Throttle.UNAVAILABLE
    else:
        limited = usage is not None and usage["count"] >= usage["limit"]
        verdict = Throttle.LIMITED if limited else Throttle.OK
    if verdict is not Throttle.OK:
        logger.warning(
            "%s link refused before reading its token: %s (client %s)",
            link,
            verdict.value,
            _client_ip(request),
        )
    return verdict


def link_rejected(request: HttpRequest, *, link: str, error: Exception) -> None:
    """Count, log and audit one rejected token of a mailed link; never the token itself.

    ``error`` is the link's refusal; its ``reason`` (bad_signature, expired, replayed, unknown,
    superseded) and ``ticket_ref`` (set only when the signature was valid) are recorded. Audit
    events are bounded per client IP and window: one ``link.rejected`` per failure up to the
    limit, and one ``link.throttled`` from the failure that reaches it; attempts refused
    afterwards (``link_throttle``) are logged only.
    """
    reason = str(getattr(error, "reason", "unknown"))
    ticket_ref = str(getattr(error, "ticket_ref", ""))
    client_ip = _client_ip(request)
    logger.warning(
        "%s link rejected: %s (ticket %s, client %s)", link, reason, ticket_ref or "-", client_ip
    )
    try:
        usage = _link_usage(request, link=link, increment=True)
    except Exception:
        logger.warning("throttle store unreachable for link:%s:ip", link)
        usage = None
    count, limit = (usage["count"], usage["limit"]) if usage else (0, 0)
    with transaction.atomic():
        if usage is None or count <= limit:
            log.record(
                Action.LINK_REJECTED,
                request=request,
                ticket_ref=ticket_ref,
                outcome=Outcome.DENIED,
                data={"purpose": link, "reason": reason},
                personal={"client_ip": client_ip},
            )
        if usage is not None and count == limit:
            logger.warning("%s link throttled for client %s", link, client_ip)
            log.record(
                Action.LINK_THROTTLED,
                request=request,
                outcome=Outcome.DENIED,
                data={"purpose": link, "rate": _rate(_LINK_RATES[link])},
                personal={"client_ip": client_ip},
            )

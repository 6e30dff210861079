"""Rate limits of the public pages (django-ratelimit counters in Redis)."""

from __future__ import annotations

import enum
import hashlib
import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage

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

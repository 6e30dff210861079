"""The self-help triage: where each answer leads, and the per-path counters."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from audit import log
from audit.actions import Action
from tickets.intake.throttle import Throttle, hit
from tickets.models import (
    TriageDeflection,
    TriagePath,
)

logger = logging.getLogger(__name__)


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
        verdict = hit(request, group="triage:ip", value=None, rate=TRIAGE_COUNT_RATE)
        if verdict is Throttle.LIMITED:
            return target
    count_deflection(target)
    if target != TriagePath.REQUEST_FORM:
        log.record(Action.TRIAGE_DEFLECTED, actor=log.PUBLIC, data={"path": target.value})
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

"""The recovery case's state machine: the only writer of Ticket.status.

One public function per transition. Each: guard (state, permission, separation of duties),
compare-and-swap update, an audit event in the same transaction, side effects only after commit.

The path of a case: NEW —claim→ IN_VERIFICATION —verify_identity→ VERIFIED —(manager confirms,
approvals)→ APPROVED —(cooling-off over)→ EXECUTING —(Graph steps)→ EXECUTED —(follow-up)→
RESTORED. Anything open may be FROZEN (fraud flag, "this wasn't me", manager declines);
a security officer may unfreeze it back to work.

Callers import the package and use these names (``workflow.approve(ticket, by=user)``); the
modules behind them are the package's own business.
"""

from __future__ import annotations

from tickets.workflow._core import (
    POST_EXECUTION,
    PRE_EXECUTION,
    DutyConflict,
    LinkInvalid,
    TransitionRefused,
    active_verification,
    alert_security,
    identities_of,
    is_account_holder,
    is_privileged,
    is_requester,
    security_officer_emails,
)
from tickets.workflow.approval import approve, missing_for_release
from tickets.workflow.confirmation import (
    decide_as_manager,
    may_decide_as_manager,
    open_manager_link,
)
from tickets.workflow.containment import (
    ContainmentState,
    ContainmentSummary,
    close,
    containment_summary,
    flag_fraud,
    freeze,
    report_not_me,
    unfreeze,
)
from tickets.workflow.delivery import requester_may_reveal, reveal_tap, tap_delivery_for
from tickets.workflow.queue import assign, claim
from tickets.workflow.running import (
    failed_operation,
    on_operation_finished,
    record_follow_up,
    record_step_outcome,
    release_cooled_off,
    reopen,
    request_follow_ups,
    retry_failed_step,
    verification_plan,
)
from tickets.workflow.verification import Evidence, verify_identity

__all__ = [
    "POST_EXECUTION",
    "PRE_EXECUTION",
    "DutyConflict",
    "Evidence",
    "LinkInvalid",
    "ContainmentState",
    "ContainmentSummary",
    "TransitionRefused",
    "active_verification",
    "alert_security",
    "approve",
    "assign",
    "claim",
    "close",
    "containment_summary",
    "decide_as_manager",
    "failed_operation",
    "flag_fraud",
    "freeze",
    "identities_of",
    "is_account_holder",
    "is_privileged",
    "is_requester",
    "may_decide_as_manager",
    "missing_for_release",
    "on_operation_finished",
    "open_manager_link",
    "record_follow_up",
    "record_step_outcome",
    "release_cooled_off",
    "reopen",
    "report_not_me",
    "request_follow_ups",
    "requester_may_reveal",
    "retry_failed_step",
    "reveal_tap",
    "security_officer_emails",
    "tap_delivery_for",
    "unfreeze",
    "verification_plan",
    "verify_identity",
]

"""The recovery case's state machine: the only writer of Ticket.status.

One public function per transition. Each: guard (state, permission, separation of duties),
compare-and-swap update, an audit event in the same transaction, and its effects as rows in that
transaction too (owed mail, Graph operations), carried out by the worker after commit.

The path of a case: NEW —claim→ IN_VERIFICATION —verify_identity→ VERIFIED —(manager confirms,
approvals)→ APPROVED —(cooling-off over)→ EXECUTING —(Graph steps)→ EXECUTED —(follow-up)→
RESTORED. Anything open may be FROZEN (fraud flag, "this wasn't me", manager declines);
a security officer may unfreeze it back to work.

Callers import the package and use these names (``workflow.approve(ticket, by=user)``). Behind
them, one module per family of transitions, each importing only the public names of the others,
one way: verification → confirmation → approval → execution → containment → freezing, with
transitions (the compare-and-swap move), duties (who may act) and alerts shared by all.
"""

from __future__ import annotations

from tickets.workflow.alerts import alert_security
from tickets.workflow.approval import approve, missing_for_release, release_if_ready
from tickets.workflow.assignment import assign, claim
from tickets.workflow.closing import close
from tickets.workflow.confirmation import (
    LinkInvalid,
    ManagerLinkRejected,
    decide_as_manager,
    manager_link_owed,
    may_decide_as_manager,
    mint_manager_link,
    open_manager_link,
    request_manager_confirmation,
    void_manager_link,
)
from tickets.workflow.containment import (
    ContainmentState,
    ContainmentSummary,
    contain,
    containment_summary,
    flag_fraud,
    report_not_me,
)
from tickets.workflow.delivery import (
    may_reveal,
    pass_goes_to_requester,
    reveal_tap,
    tap_delivery_for,
)
from tickets.workflow.duties import (
    DutyConflict,
    identities_of,
    is_account_holder,
    is_requester,
)
from tickets.workflow.execution import (
    failed_operation,
    may_retry,
    on_operation_finished,
    record_step_outcome,
    release_cooled_off,
    retry_failed_step,
    start_execution,
    verification_plan,
)
from tickets.workflow.follow_up import record_follow_up, reopen, request_follow_ups
from tickets.workflow.freezing import freeze, unfreeze
from tickets.workflow.transitions import (
    POST_EXECUTION,
    PRE_EXECUTION,
    TransitionRefused,
    active_verification,
    is_privileged,
)
from tickets.workflow.verification import Evidence, verify_identity

__all__ = [
    "POST_EXECUTION",
    "PRE_EXECUTION",
    "ContainmentState",
    "ContainmentSummary",
    "DutyConflict",
    "Evidence",
    "LinkInvalid",
    "ManagerLinkRejected",
    "TransitionRefused",
    "active_verification",
    "alert_security",
    "approve",
    "assign",
    "claim",
    "close",
    "contain",
    "containment_summary",
    "decide_as_manager",
    "failed_operation",
    "flag_fraud",
    "freeze",
    "identities_of",
    "is_account_holder",
    "is_privileged",
    "is_requester",
    "manager_link_owed",
    "may_decide_as_manager",
    "may_retry",
    "may_reveal",
    "mint_manager_link",
    "missing_for_release",
    "on_operation_finished",
    "open_manager_link",
    "pass_goes_to_requester",
    "record_follow_up",
    "record_step_outcome",
    "release_cooled_off",
    "release_if_ready",
    "reopen",
    "report_not_me",
    "request_follow_ups",
    "request_manager_confirmation",
    "retry_failed_step",
    "reveal_tap",
    "start_execution",
    "tap_delivery_for",
    "unfreeze",
    "verification_plan",
    "verify_identity",
    "void_manager_link",
]

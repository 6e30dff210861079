"""The action names audit events use: one vocabulary for every module that calls ``log.record``.

Callers pass these constants (``log.record(actions.TICKET_APPROVED, ...)``). Reports and the
per-ticket timeline read them, and cope when some never occur. Rules for every event:

- ``ticket_ref`` is the ticket's reference whenever the event belongs to a case;
- ``subject`` is the account the event is about (the requester's UPN), ``reason`` free text;
  both are *personal* and are redacted by the retention purge (docs/AUDIT.md);
- ``data`` is hashed and kept for ever: identifiers, kinds, flags and counts only — never a
  name, e-mail address or phone number (put those in ``personal={...}``), never a secret
  (``log.record`` refuses keys that look like one).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

# --- Staff identity (recorded by audit itself, from the allauth/Django signals) ------------
STAFF_SIGNED_IN = "staff.signed_in"
STAFF_SIGN_IN_FAILED = "staff.sign_in_failed"  # wrong password or unknown login
STAFF_MFA_FAILED = "staff.mfa_failed"  # right password, wrong second factor
STAFF_SIGNED_OUT = "staff.signed_out"

# --- Intake and self-help (tickets) ---------------------------------------------------------
# data: {"what_happened": ..., "urgency": ..., "privileged": bool | absent}
TICKET_SUBMITTED = "ticket.submitted"
# A requester solved it with self-help instead of filing; no ticket. data: {"path": "..."}
TRIAGE_DEFLECTED = "triage.deflected"
# Public link or status page used (never the token itself). data: {"purpose": "..."}
LINK_USED = "link.used"
# A mailed link's token was refused (never the token itself; outcome "denied").
# data: {"purpose": "not_me" | "manager", "reason": "bad_signature" | "expired" | "replayed" |
# "unknown" | "superseded"}; ticket_ref only when the signature was valid.
LINK_REJECTED = "link.rejected"
# A client IP reached the limit of failed link attempts: one per IP and window, whatever follows.
# data: {"purpose": ..., "rate": "20/h"}
LINK_THROTTLED = "link.throttled"
# The "a recovery was requested" mail to the account holder or the manager of record (the
# outbox, tickets.intake.notices): sent, one attempt failed (retried later), or given up.
# data: {"recipient": "account" | "manager", "attempt": n, "error": exception class (failures)}
NOTICE_SENT = "notice.sent"
NOTICE_FAILED = "notice.send_failed"
NOTICE_ABANDONED = "notice.abandoned"
# The directory facts of an account were shown to a staff member.
DIRECTORY_VIEWED = "directory.viewed"
# data: {"privileged": bool} — what the directory said; reports read the flag.
DIRECTORY_CHECKED = "ticket.directory_checked"

# --- The workflow (tickets.workflow) --------------------------------------------------------
TICKET_CLAIMED = "ticket.claimed"
TICKET_ASSIGNED = "ticket.assigned"
TICKET_RELEASED = "ticket.released"
# data: {"method": "video" | "in_person" | "callback" | ...}
IDENTITY_VERIFIED = "ticket.identity_verified"
IDENTITY_REJECTED = "ticket.identity_rejected"
# The manager confirmed (through their link) or declined. personal: {"manager": upn}
MANAGER_LINK_SENT = "ticket.manager_link_sent"
MANAGER_CONFIRMED = "ticket.manager_confirmed"
MANAGER_DECLINED = "ticket.manager_declined"
TICKET_APPROVED = "ticket.approved"
# A separation-of-duties rule stopped someone (outcome "denied"). data: {"rule": "..."}
SOD_REFUSED = "ticket.sod_refused"
# The approved change is being carried out by Graph, and how that ended.
EXECUTION_STARTED = "ticket.execution_started"
TICKET_EXECUTED = "ticket.executed"
EXECUTION_FAILED = "ticket.execution_failed"
TICKET_RETRIED = "ticket.retried"
TICKET_CONTAINED = "ticket.contained"  # "this wasn't me": sessions revoked, methods locked
TICKET_TAP_REVEALED = "ticket.tap_revealed"  # never the value
TICKET_FROZEN = "ticket.frozen"
REPORTED_NOT_ME = "ticket.reported_not_me"  # the account holder or manager said "this wasn't me"
FRAUD_FLAGGED = "ticket.fraud_flagged"  # an agent flagged the request as fraud
TICKET_UNFROZEN = "ticket.unfrozen"
TICKET_RESTORED = "ticket.restored"  # the requester has access again
TICKET_REJECTED = "ticket.rejected"
TICKET_CLOSED = "ticket.closed"
TICKET_REOPENED = "ticket.reopened"

# --- Graph (graphops) -----------------------------------------------------------------------
# An operation was put in the ledger. data: {"operation_id", "kind", ...}
GRAPH_REQUESTED = "graph.requested"
# An operation finished: action "graph.<kind>" (graph.issue_tap, graph.delete_methods, ...)
# with outcome success/failure; data: {"operation_id", "kind", "status",
# "graph_request_ids", "privileged": bool when known}.
GRAPH_PREFIX = "graph."
GRAPH_ISSUE_TAP = "graph.issue_tap"
GRAPH_TAP_REVEALED = "graph.tap_revealed"  # shown once to its owner; never the value
GRAPH_RETRY = "graph.retry"

# --- Configuration and the audit trail itself -----------------------------------------------
CONFIG_CHANGED = "config.changed"
AUDIT_EXPORTED = "audit.exported"  # data: {"format": "csv" | "json", "filters": {...}}
AUDIT_RETENTION_PURGED = "audit.retention.purged"  # data: {"ticket_refs": [...], "before": iso}

# A case's personal data may be purged once one of these is its latest lifecycle event.
CLOSING_ACTIONS = (TICKET_RESTORED, TICKET_REJECTED, TICKET_CLOSED)
REOPENING_ACTIONS = (TICKET_REOPENED, TICKET_UNFROZEN)

# Terminal outcomes for the dashboard, in display order.
OUTCOME_ACTIONS = (TICKET_RESTORED, TICKET_REJECTED, TICKET_CLOSED, TICKET_FROZEN)

LABELS = {
    STAFF_SIGNED_IN: _("Staff signed in"),
    STAFF_SIGN_IN_FAILED: _("Staff sign-in failed"),
    STAFF_MFA_FAILED: _("Staff second factor failed"),
    STAFF_SIGNED_OUT: _("Staff signed out"),
    TICKET_SUBMITTED: _("Request submitted"),
    TRIAGE_DEFLECTED: _("Solved with self-help"),
    LINK_USED: _("Link used"),
    LINK_REJECTED: _("Link refused"),
    LINK_THROTTLED: _("Link attempts throttled"),
    NOTICE_SENT: _("Recovery notice mailed"),
    NOTICE_FAILED: _("Recovery notice not sent (will retry)"),
    NOTICE_ABANDONED: _("Recovery notice given up"),
    DIRECTORY_VIEWED: _("Directory data viewed"),
    DIRECTORY_CHECKED: _("Directory checked"),
    TICKET_CLAIMED: _("Ticket claimed"),
    TICKET_ASSIGNED: _("Ticket assigned"),
    TICKET_RELEASED: _("Ticket released"),
    MANAGER_LINK_SENT: _("Confirmation link sent to the manager"),
    EXECUTION_STARTED: _("Execution started"),
    TICKET_EXECUTED: _("Executed"),
    EXECUTION_FAILED: _("Execution failed"),
    TICKET_RETRIED: _("Execution retried"),
    TICKET_CONTAINED: _("Account contained"),
    TICKET_TAP_REVEALED: _("Temporary Access Pass shown to the requester"),
    IDENTITY_VERIFIED: _("Identity verified"),
    IDENTITY_REJECTED: _("Identity not verified"),
    MANAGER_CONFIRMED: _("Manager confirmed"),
    MANAGER_DECLINED: _("Manager declined"),
    TICKET_APPROVED: _("Approved"),
    SOD_REFUSED: _("Refused by separation of duties"),
    TICKET_FROZEN: _("Frozen"),
    REPORTED_NOT_ME: _('Reported as "this wasn\'t me"'),
    FRAUD_FLAGGED: _("Flagged as fraud"),
    TICKET_UNFROZEN: _("Unfrozen"),
    TICKET_RESTORED: _("Access restored"),
    TICKET_REJECTED: _("Rejected"),
    TICKET_CLOSED: _("Closed"),
    TICKET_REOPENED: _("Reopened"),
    GRAPH_REQUESTED: _("Graph operation requested"),
    GRAPH_ISSUE_TAP: _("Temporary Access Pass issued"),
    GRAPH_TAP_REVEALED: _("Temporary Access Pass shown to its owner"),
    GRAPH_RETRY: _("Graph operation retried"),
    CONFIG_CHANGED: _("Configuration changed"),
    AUDIT_EXPORTED: _("Audit trail exported"),
    AUDIT_RETENTION_PURGED: _("Personal data purged (retention)"),
}


def label(action: str) -> str:
    """A readable name for an action; a Graph operation by its kind; others as themselves."""
    if action in LABELS:
        return str(LABELS[action])
    if action.startswith(GRAPH_PREFIX):
        kind = action.removeprefix(GRAPH_PREFIX).replace("_", " ")
        return str(_("Graph: %(kind)s") % {"kind": kind})
    return action

"""The actions audit events record: one typed vocabulary for every module that calls ``log.record``.

Callers pass a member (``log.record(Action.TICKET_APPROVED, ...)``); ``log.record`` refuses
anything else, so mypy sees every call site and a typo fails loudly. A member's value is the
stored text (the chain hashes it, exports carry it): never change a value, only add members.
Reports, retention and the per-ticket timeline compare stored text with members.

Rules for every event:

- ``ticket_ref`` is the ticket's reference whenever the event belongs to a case;
- ``subject`` is the account the event is about (the requester's UPN), ``reason`` free text;
  both are *personal* and are redacted by the retention purge (docs/AUDIT.md);
- ``data`` is hashed and kept for ever: identifiers, kinds, flags and counts only — never a
  name, e-mail address or phone number (put those in ``personal={...}``), never a secret
  (``log.record`` refuses keys that look like one).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

GRAPH_PREFIX = "graph."


class Action(models.TextChoices):
    # --- Staff identity (recorded by audit itself, from the allauth/Django signals) --------
    STAFF_SIGNED_IN = "staff.signed_in", _("Staff signed in")
    STAFF_SIGN_IN_FAILED = "staff.sign_in_failed", _("Staff sign-in failed")  # wrong password
    STAFF_MFA_FAILED = "staff.mfa_failed", _("Staff second factor failed")
    STAFF_SIGNED_OUT = "staff.signed_out", _("Staff signed out")

    # --- Intake and self-help (tickets) -----------------------------------------------------
    # data: {"what_happened": ..., "urgency": ..., "privileged": bool | absent}
    TICKET_SUBMITTED = "ticket.submitted", _("Request submitted")
    # A requester solved it with self-help instead of filing; no ticket. data: {"path": "..."}
    TRIAGE_DEFLECTED = "triage.deflected", _("Solved with self-help")
    # Public link or status page used (never the token itself). data: {"purpose": "..."}
    LINK_USED = "link.used", _("Link used")
    # A mailed link's token was refused (never the token itself; outcome "denied").
    # data: {"purpose": "not_me" | "manager", "reason": "bad_signature" | "expired" |
    # "replayed" | "unknown" | "superseded"}; ticket_ref only when the signature was valid.
    LINK_REJECTED = "link.rejected", _("Link refused")
    # A client IP reached the limit of failed link attempts: one per IP and window.
    # data: {"purpose": ..., "rate": "20/h"}
    LINK_THROTTLED = "link.throttled", _("Link attempts throttled")
    # A mail of the outbox (tickets.outbox: the "a recovery was requested" notices, security
    # alerts, the executed notice, the alternate contact's reference): sent, one attempt failed
    # (retried later), or given up. Stored as notice.*: the intake notices were the outbox's
    # first mails, and a value never changes. data: {"mail_id", "kind", "recipient": "account"
    # | "manager" (notices), "attempt": n, "error": class (failures)}; personal: {"to": [...]}
    MAIL_SENT = "notice.sent", _("Mail sent")
    MAIL_FAILED = "notice.send_failed", _("Mail not sent (will retry)")
    MAIL_ABANDONED = "notice.abandoned", _("Mail given up")
    # The directory facts of an account were shown to a staff member.
    DIRECTORY_VIEWED = "directory.viewed", _("Directory data viewed")
    # data: {"privileged": bool} — what the directory said; reports read the flag.
    DIRECTORY_CHECKED = "ticket.directory_checked", _("Directory checked")

    # --- The workflow (tickets.workflow) ----------------------------------------------------
    TICKET_CLAIMED = "ticket.claimed", _("Ticket claimed")
    TICKET_ASSIGNED = "ticket.assigned", _("Ticket assigned")
    TICKET_RELEASED = "ticket.released", _("Ticket released")
    # data: {"method": "video" | "in_person" | "callback" | ...}
    IDENTITY_VERIFIED = "ticket.identity_verified", _("Identity verified")
    # The manager's confirmation link left (the outbox's mail of kind manager_link; its failed
    # attempts are MAIL_FAILED). data as MAIL_SENT's plus {"routed_to_security": bool}
    MANAGER_LINK_SENT = "ticket.manager_link_sent", _("Confirmation link sent to the manager")
    # The manager confirmed (through their link) or declined. personal: {"manager": upn}
    MANAGER_CONFIRMED = "ticket.manager_confirmed", _("Manager confirmed")
    MANAGER_DECLINED = "ticket.manager_declined", _("Manager declined")
    TICKET_APPROVED = "ticket.approved", _("Approved")
    # A separation-of-duties rule stopped someone (outcome "denied"). data: {"rule": "..."}
    SOD_REFUSED = "ticket.sod_refused", _("Refused by separation of duties")
    # The approved change is being carried out by Graph, and how that ended.
    EXECUTION_STARTED = "ticket.execution_started", _("Execution started")
    TICKET_EXECUTED = "ticket.executed", _("Executed")
    EXECUTION_FAILED = "ticket.execution_failed", _("Execution failed")
    TICKET_RETRIED = "ticket.retried", _("Execution retried")
    # "this wasn't me": sessions revoked, methods locked
    TICKET_CONTAINED = "ticket.contained", _("Account contained")
    # never the value
    TICKET_TAP_REVEALED = "ticket.tap_revealed", _("Temporary Access Pass shown to the requester")
    TICKET_FROZEN = "ticket.frozen", _("Frozen")
    # the account holder or manager said "this wasn't me"
    REPORTED_NOT_ME = "ticket.reported_not_me", _('Reported as "this wasn\'t me"')
    FRAUD_FLAGGED = "ticket.fraud_flagged", _("Flagged as fraud")  # an agent flagged it
    TICKET_UNFROZEN = "ticket.unfrozen", _("Unfrozen")
    TICKET_RESTORED = "ticket.restored", _("Access restored")  # the requester has access again
    TICKET_CLOSED = "ticket.closed", _("Closed")
    TICKET_REOPENED = "ticket.reopened", _("Reopened")

    # --- Graph (graphops) -------------------------------------------------------------------
    # An operation was put in the ledger. data: {"operation_id", "kind", ...}
    GRAPH_REQUESTED = "graph.requested", _("Graph operation requested")
    GRAPH_TAP_REVEALED = "graph.tap_revealed", _("Temporary Access Pass shown to its owner")
    GRAPH_RETRY = "graph.retry", _("Graph operation retried")
    # A finished operation's outcome was not taken up by the case (a receiver raised; announced
    # again later, graphops.announcements). data: {"operation_id", "kind", "status",
    # "failures", "error": exception class}
    GRAPH_ANNOUNCE_FAILED = (
        "graph.announce_failed",
        _("Graph outcome not taken up by the case (will retry)"),
    )
    # An operation finished: one member per graphops Kind, "graph.<kind>" (audit cannot import
    # graphops; tests/audit/test_actions.py holds the two lists together), with outcome
    # success/failure; data: {"operation_id", "kind", "status", "graph_request_ids",
    # "privileged": bool when known}.
    GRAPH_DIRECTORY_LOOKUP = "graph.directory_lookup", _("Graph: directory lookup")
    GRAPH_LOOKUP_USER = "graph.lookup_user", _("Graph: look up user")
    GRAPH_GET_MANAGER = "graph.get_manager", _("Graph: get manager")
    GRAPH_CHECK_PRIVILEGED = "graph.check_privileged", _("Graph: check privileged roles")
    GRAPH_LIST_METHODS = "graph.list_methods", _("Graph: list authentication methods")
    GRAPH_ISSUE_TAP = "graph.issue_tap", _("Graph: issue Temporary Access Pass")
    GRAPH_DELETE_METHODS = "graph.delete_methods", _("Graph: delete authentication methods")
    GRAPH_REQUIRE_REREGISTRATION = (
        "graph.require_reregistration",
        _("Graph: require MFA re-registration"),
    )
    GRAPH_REVOKE_SESSIONS = "graph.revoke_sessions", _("Graph: revoke sign-in sessions")
    GRAPH_ADD_CA_EXCLUSION = (
        "graph.add_ca_exclusion",
        _("Graph: add Conditional Access exclusion"),
    )
    GRAPH_REMOVE_CA_EXCLUSION = (
        "graph.remove_ca_exclusion",
        _("Graph: remove Conditional Access exclusion"),
    )
    GRAPH_READ_TAP_POLICY = (
        "graph.read_tap_policy",
        _("Graph: read Temporary Access Pass policy"),
    )
    GRAPH_CHECK_NEW_METHODS = (
        "graph.check_new_methods",
        _("Graph: check for newly registered methods"),
    )

    # --- Configuration and the audit trail itself -------------------------------------------
    # The recovery policy a process runs with differs from the last one it recorded
    # (tickets.policy). data: {"scope", "process", "sha256", "changed": [names], "policy"}
    CONFIG_CHANGED = "config.changed", _("Configuration changed")
    AUDIT_EXPORTED = "audit.exported", _("Audit trail exported")  # data: {"format", "filters"}
    # data: {"ticket_refs": [...], "before": iso}
    AUDIT_RETENTION_PURGED = "audit.retention.purged", _("Personal data purged (retention)")


def graph_action(kind: str) -> Action:
    """The member recording how an operation of ``kind`` (a graphops Kind value) finished.
    Raises ValueError for a kind without its member (a test keeps them in step)."""
    return Action(f"{GRAPH_PREFIX}{kind}")


# A case's personal data may be purged once one of these is its latest lifecycle event.
# (A case that cannot go ahead — identity not verified, a refusal — is closed with its reason:
# there is no separate "rejected" end.)
CLOSING_ACTIONS = (Action.TICKET_RESTORED, Action.TICKET_CLOSED)
REOPENING_ACTIONS = (Action.TICKET_REOPENED, Action.TICKET_UNFROZEN)

# Terminal outcomes for the dashboard, in display order.
OUTCOME_ACTIONS = (Action.TICKET_RESTORED, Action.TICKET_CLOSED, Action.TICKET_FROZEN)
# How each Graph operation ended: the graph.<kind> members.
GRAPH_OUTCOMES = tuple(
    a
    for a in Action
    if a.value.startswith(GRAPH_PREFIX)
    and a
    not in (
        Action.GRAPH_REQUESTED,
        Action.GRAPH_RETRY,
        Action.GRAPH_TAP_REVEALED,
        Action.GRAPH_ANNOUNCE_FAILED,
    )
)


def values(members: tuple[Action, ...]) -> list[str]:
    """The stored texts of ``members``, as a plain list (an SQL array parameter)."""
    return [member.value for member in members]


def label(action: str) -> str:
    """A readable name for a stored action; one the vocabulary does not know, as itself."""
    try:
        return str(Action(action).label)
    except ValueError:
        return action

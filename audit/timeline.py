"""A case as the seeds ask an administrator to document it: who asked, who verified and how,
who confirmed, who approved, what Graph did, when — read from the case's audit events only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from audit import actions
from audit.actions import Action
from audit.models import ActorKind, AuditEvent


@dataclass(frozen=True)
class Step:
    when: dt.datetime
    who: str
    how: str
    event: AuditEvent


@dataclass
class CaseRecord:
    ticket_ref: str
    events: list[AuditEvent]
    account: str = ""
    requester_name: str = ""
    why: str = ""
    what_happened: str = ""
    requested_at: dt.datetime | None = None
    verified: list[Step] = field(default_factory=list)
    confirmed: list[Step] = field(default_factory=list)
    approved: list[Step] = field(default_factory=list)
    graph: list[Step] = field(default_factory=list)
    refused: list[Step] = field(default_factory=list)
    closed: list[Step] = field(default_factory=list)
    redacted: bool = False

    @property
    def restored_at(self) -> dt.datetime | None:
        return next((s.when for s in self.closed if s.event.action == Action.TICKET_RESTORED), None)

    @property
    def time_to_restore(self) -> dt.timedelta | None:
        if self.requested_at and self.restored_at:
            return self.restored_at - self.requested_at
        return None


# What Graph did, for the record: each operation's outcome, and the pass shown to its owner.
_GRAPH_DID = (*actions.GRAPH_OUTCOMES, Action.GRAPH_TAP_REVEALED)


def _who(event: AuditEvent) -> str:
    """The actor; for someone not signed in, the name they gave (a manager's link), if any."""
    if event.actor_kind == ActorKind.SYSTEM or event.actor_label:
        return event.who
    named = str(event.personal.get("name") or event.personal.get("manager", ""))
    return named or (event.who if event.actor_kind else "")


def _graph_how(event: AuditEvent) -> str:
    kind = str(event.data.get("kind") or event.action.removeprefix(actions.GRAPH_PREFIX))
    parts = [kind, event.outcome]
    if event.data.get("operation_id"):
        parts.append(f"operation {event.data['operation_id']}")
    request_ids = event.data.get("graph_request_ids") or []
    if request_ids:
        parts.append(f"Graph request {request_ids[-1]}")
    return " · ".join(parts)


def case_record(ticket_ref: str, events: list[AuditEvent]) -> CaseRecord:
    """Fold a case's events (in chain order) into the documentation record."""
    record = CaseRecord(ticket_ref=ticket_ref, events=events)
    for event in events:
        record.redacted = record.redacted or event.is_redacted
        record.account = record.account or event.subject
        step = Step(when=event.created_at, who=_who(event), how="", event=event)
        if event.action == Action.TICKET_SUBMITTED:
            record.requested_at = record.requested_at or event.created_at
            record.why = record.why or event.reason
            record.what_happened = str(event.data.get("what_happened", ""))
            record.requester_name = str(event.personal.get("full_name", ""))
        elif event.action == Action.IDENTITY_VERIFIED:
            record.verified.append(
                Step(step.when, step.who, str(event.data.get("method", "")), event)
            )
        elif event.action == Action.MANAGER_CONFIRMED:
            record.confirmed.append(step)
        elif event.action == Action.TICKET_APPROVED:
            record.approved.append(step)
        elif event.action in (Action.SOD_REFUSED, Action.MANAGER_DECLINED):
            record.refused.append(Step(step.when, step.who, actions.label(event.action), event))
        elif event.action in _GRAPH_DID:
            record.graph.append(Step(step.when, step.who, _graph_how(event), event))
        elif event.action in (*actions.CLOSING_ACTIONS, Action.TICKET_FROZEN):
            record.closed.append(Step(step.when, step.who, actions.label(event.action), event))
    return record

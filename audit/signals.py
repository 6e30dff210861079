"""Signals audit sends; other modules subscribe (audit imports none of them)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after commit by audit.retention.purge_personal_data, with
#   ticket_refs: list[str] — cases whose personal data the audit trail no longer holds,
#   before: datetime — the cut-off used.
# tickets subscribes to blank the same cases' own personal fields.
personal_data_purged = Signal()

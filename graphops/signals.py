"""Signals graphops sends. Receivers live in the apps that care (tickets); graphops imports none.

``operation_finished`` announces a GraphOperation that reached SUCCEEDED, FAILED or NEEDS_REVIEW,
with ``operation=`` the row, freshly read and locked (``graphops.announcements``). The contract:

- Receivers run inside the announcement's transaction, the one that marks the row announced
  (``announced_at``): what they write commits together with that mark, or not at all. Their own
  ``transaction.atomic`` blocks are savepoints of it; their after-commit effects (mails, tasks)
  run once it commits.
- A receiver that raises undoes the whole announcement (every receiver's changes) and leaves the
  row owed: the error is logged and audited, and the beat sweep announces the row again later,
  with a back-off. So raise when the outcome could not be taken up (the database went away);
  return quietly when there is nothing to do for this row.
- The same outcome may be delivered more than once (a retried announcement, a row retried and
  finished again): a receiver must be idempotent — a repeated delivery queues nothing, mails
  nobody and audits nothing a second time. Decide from the row's state and your own rows
  (compare-and-swap, a row lock), never from having been called.
- An announcement is sent after the finishing commit, by the worker right after it or by the
  sweep: never inside the transaction that finished the row.
"""

from __future__ import annotations

from django.dispatch import Signal

operation_finished = Signal()

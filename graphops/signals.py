"""Signals graphops sends. Receivers live in the apps that care (tickets); graphops imports none.

``operation_finished`` is sent after the commit that moved a GraphOperation to SUCCEEDED, FAILED
or NEEDS_REVIEW, with ``operation=`` the fresh row. A receiver runs outside that transaction:
it should make its own (short) transaction and may be called again for the same row after a
retry; it must not raise (an exception would be logged and swallowed).
"""

from __future__ import annotations

from django.dispatch import Signal

operation_finished = Signal()

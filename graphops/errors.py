"""What a Graph call can end in, as the ledger sees it.

Messages are written for the person reading the ledger; they never contain a secret (Graph's
error bodies don't either: a TAP only appears in a 201 body).
"""

from __future__ import annotations

from typing import Any


class GraphCallError(Exception):
    def __init__(
        self,
        message: str,
        *,
        code: str,
        status: int | None = None,
        request_ids: list[str] | None = None,
        retryable: bool = False,
        result: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.request_ids = request_ids or []
        # For a permanent failure: may a person retry it once the cause is fixed (a permission
        # granted, a credential renewed)?
        self.retryable = retryable
        # What was done before the failure (e.g. the methods deleted before one was refused).
        self.result = result


class Transient(GraphCallError):
    """429, 503, 504, a timeout on a repeatable call: try again after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class Permanent(GraphCallError):
    """A 4xx or a refusal that repeating will not fix (permission, policy, unknown user)."""


class Uncertain(GraphCallError):
    """A write that may or may not have happened (and must not be repeated blindly)."""

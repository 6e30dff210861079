"""Carries out one operation against Graph (filled in with the msgraph-sdk client)."""

from __future__ import annotations

from graphops import errors, ledger
from graphops.models import GraphOperation


def execute(operation: GraphOperation) -> ledger.Success:
    raise errors.Permanent("Graph access is not wired in yet.", code="not_available")

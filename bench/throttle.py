"""1,000 Graph operations, once cleanly and once with 10 % of them answered 429 + Retry-After.

Each operation is a user lookup (one Graph call) for its own simulated user. In the throttled
run every tenth operation's first call gets a 429 with ``Retry-After: R`` (the simulator's
fault-injection API, one fault per user path). The last operation is one of them, so nothing
can finish before (the clean run's time) + R: that is the floor the wall time is held against.
The clean run is made before and after the throttled one (their mean is used), as other load on
the machine may come and go.
Exactly once: every operation SUCCEEDED, with exactly one 200 from the tenant for its id.
"""

from __future__ import annotations

import time
from typing import Any

from django.db import transaction
from django.db.models import Max

from bench.common import scaled, verdict
from graphops import operations
from graphops.models import GraphOperation, Kind, OpStatus

RETRY_AFTER = 2
GOAL_RATIO = 1.2


def _upn(run: str, number: int) -> str:
    return f"bench.{run}{number:04d}@contoso.example"


def _operations(run: str, count: int) -> tuple[list[str], float]:
    """Record ``count`` lookups in one transaction (they are queued as it commits)."""
    with transaction.atomic():
        ids = [
            str(operations.request_operation(
                Kind.LOOKUP_USER, target_upn=_upn(run, n), correlation=f"BENCH-{run}"
            ).pk)
            for n in range(count)
        ]  # fmt: skip
        committed = time.time()  # the on-commit hooks send the messages right after this
    return ids, committed


def _finish(ids: list[str], committed: float, *, timeout: float = 600) -> dict[str, Any]:
    rows = GraphOperation.objects.filter(pk__in=ids)
    deadline = time.monotonic() + timeout
    while rows.exclude(status__in=[OpStatus.SUCCEEDED, OpStatus.FAILED,
                                   OpStatus.NEEDS_REVIEW]).exists():  # fmt: skip
        if time.monotonic() > deadline:
            raise TimeoutError("operations still unfinished")
        time.sleep(0.1)
    last = rows.aggregate(last=Max("finished_at"))["last"]
    statuses: dict[str, int] = {}
    for status in rows.values_list("status", flat=True):
        statuses[status] = statuses.get(status, 0) + 1
    attempts: dict[int, int] = {}
    for n in rows.values_list("attempts", flat=True):
        attempts[n] = attempts.get(n, 0) + 1
    return {"seconds": round(last.timestamp() - committed, 2), "statuses": statuses,
            "attempts": attempts}  # fmt: skip


def _exactly_once(stack: Any, ids: list[str]) -> dict[str, int]:
    wanted = set(ids)
    ok: dict[str, int] = {}
    throttled = 0
    for record in stack.sim.requests():
        op = record["client_request_id"]
        if op in wanted:
            if record["status"] == 200:
                ok[op] = ok.get(op, 0) + 1
            elif record["status"] == 429:
                throttled += 1
    return {
        "answered_200": sum(ok.values()),
        "ops_with_one_200": sum(1 for n in ok.values() if n == 1),
        "ops_with_several_200": sum(1 for n in ok.values() if n > 1),
        "answered_429": throttled,
    }


def run(results: Any, *, stack: Any) -> None:
    count = scaled(1000, minimum=100)
    every = 10
    for run_name in ("w", "c", "t", "d"):
        for n in range(count if run_name != "w" else 20):
            stack.sim.call("POST", "/_sim/users", {"upn": _upn(run_name, n)})
    _finish(*_operations("w", 20))  # warm-up, not counted: tokens, connections, imports
    clean_ids, committed = _operations("c", count)
    clean = _finish(clean_ids, committed)
    for n in range(every - 1, count, every):
        stack.sim.call("POST", "/_sim/faults", {
            "status": 429, "count": 1, "retry_after": RETRY_AFTER, "method": "GET",
            "path_contains": _upn("t", n),
        })  # fmt: skip
    ids, committed = _operations("t", count)
    throttled = _finish(ids, committed)
    once = _exactly_once(stack, ids)
    # Clean again: other load on the machine may change between runs; the floor uses both.
    after_ids, committed = _operations("d", count)
    after = _finish(after_ids, committed)
    clean_mean = (clean["seconds"] + after["seconds"]) / 2
    floor = clean_mean + RETRY_AFTER
    ratio = round(throttled["seconds"] / floor, 2)
    all_ok = (
        throttled["statuses"] == {OpStatus.SUCCEEDED: count}
        and once["ops_with_one_200"] == count
        and once["ops_with_several_200"] == 0
    )
    figures = {
        "operations": count,
        "retry_after_s": RETRY_AFTER,
        "clean": clean,
        "clean_after": after,
        "throttled": throttled,
        "exactly_once": once,
        "floor_seconds": round(floor, 2),
        "ratio": ratio,
        "all_completed_once": all_ok,
    }
    results.add("throttled_operations", figures)
    results.row(
        f"{count:,} operations, 10 % answered 429 (Retry-After {RETRY_AFTER} s)",
        f"{throttled['seconds']} s vs floor {floor:.2f} s (clean runs {clean['seconds']} s and "
        f"{after['seconds']} s, mean + {RETRY_AFTER} s) = {ratio}×; {once['answered_429']} × "
        f"429; completed exactly once: "
        f"{'yes' if all_ok else 'NO'}",
        "≤ 1.2× floor, all once",
        verdict(ratio <= GOAL_RATIO and all_ok),
    )

"""Intake submissions under load: gunicorn as deployed, the load generator in another process.

Three runs: one user alone (the service time of a submission, nothing queued), a closed loop
(8 virtual users back to back: the most the stack gives), then an open
loop at the goal's 100 submissions/s (does it keep up, and with what p95?). Afterwards a few
signed-in page views through gunicorn, so the web workers' peak memory includes staff pages.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from django.test import Client

from bench.common import ROOT, children, percentile, scaled, verdict
from graphops.models import GraphOperation, OpStatus

GOAL_RATE = 100.0
GOAL_P95_MS = 150.0


def _load(stack: Any, *, name: str, count: int, duration: float, concurrency: int,
          rate: float, first: int) -> dict[str, Any]:  # fmt: skip
    out = stack.log_dir / f"loadgen-{name}.json"
    cpu_before, gen_before = stack.cpu(), resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-m", "bench.loadgen", "--url", f"http://127.0.0.1:{stack.web_port}",
         "--count", str(count), "--duration", str(duration), "--concurrency", str(concurrency),
         "--rate", str(rate), "--first", str(first), "--out", str(out)],
        cwd=ROOT, check=True, timeout=duration + 120,
    )  # fmt: skip
    cpu_after, gen_after = stack.cpu(), resource.getrusage(resource.RUSAGE_CHILDREN)
    found = json.loads(Path(out).read_text())
    rows = found["results"]
    ok = [r for r in rows if r.get("post_status") == 200]
    errors = len(rows) - len(ok)
    ends = sorted(r["done_at"] for r in ok)
    span = (ends[-1] - found["started"]) if ends else found["elapsed_s"]
    post = [r["post_s"] * 1000 for r in ok]
    get = [r["get_s"] * 1000 for r in ok]
    total = [r["total_s"] * 1000 for r in ok]
    statuses: dict[str, int] = {}
    for r in rows:
        key = str(r.get("post_status", "get " + str(r.get("get_status", "error"))))
        statuses[key] = statuses.get(key, 0) + 1
    done = max(1, len(ok))
    cpu_ms = {k: round((cpu_after[k] - cpu_before.get(k, 0.0)) * 1000 / done, 1) for k in cpu_after}
    cpu_ms["loadgen"] = round(
        (gen_after.ru_utime + gen_after.ru_stime - gen_before.ru_utime - gen_before.ru_stime)
        * 1000 / done, 1
    )  # fmt: skip
    return {
        "cpu_ms_per_submission": cpu_ms,
        "mode": f"open loop at {rate}/s" if rate else f"closed loop, {concurrency} users",
        "submitted": len(rows),
        "accepted": len(ok),
        "errors": errors,
        "statuses": statuses,
        "seconds": round(span, 2),
        "submissions_per_s": round(len(ok) / span, 1) if span else 0.0,
        "http_requests_per_s": round(2 * len(ok) / span, 1) if span else 0.0,
        "post_p50_ms": round(percentile(post, 50), 1),
        "post_p95_ms": round(percentile(post, 95), 1),
        "get_p50_ms": round(percentile(get, 50), 1),
        "get_p95_ms": round(percentile(get, 95), 1),
        "submission_p95_ms": round(percentile(total, 95), 1),
    }


def _staff_pages(stack: Any, cast: Any) -> dict[str, Any]:
    """Signed-in queue and audit pages through gunicorn (a session made by force_login)."""
    found: dict[str, Any] = {}
    for name, user, path in (
        ("queue", cast.agent, "/staff/queue/"),
        ("audit", cast.auditor, "/audit/"),
    ):
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        cookie = f"sessionid={client.cookies['sessionid'].value}"
        times = []
        for _ in range(scaled(20, minimum=5)):
            request = urllib.request.Request(  # noqa: S310 - loopback gunicorn
                f"http://127.0.0.1:{stack.web_port}{path}", headers={"Cookie": cookie}
            )
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                response.read()
                if response.status != 200:
                    raise RuntimeError(f"{path} answered {response.status} through gunicorn")
            times.append((time.perf_counter() - started) * 1000)
        found[name] = {"p50_ms": round(percentile(times, 50), 1),
                       "p95_ms": round(percentile(times, 95), 1)}  # fmt: skip
    return found


def drain(timeout: float = 300) -> dict[str, Any]:
    """Wait for the worker to finish the directory lookups the submissions queued."""
    started = time.perf_counter()
    pending = GraphOperation.objects.filter(status__in=[OpStatus.PENDING, OpStatus.RUNNING])
    while pending.exists() and time.perf_counter() - started < timeout:
        time.sleep(0.5)
    return {"drain_seconds": round(time.perf_counter() - started, 1), "left": pending.count()}


def _paused_worker(stack: Any, run: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``run()`` with the Celery worker stopped (SIGSTOP), then the lookups drained.

    The directory lookup is asynchronous by design; a deployment gives the worker its own CPUs.
    Pausing it shows what the web tier and PostgreSQL alone sustain on this machine, and the
    drain afterwards shows the worker catching up (nothing lost, nothing done twice).
    """
    pids = [stack.worker.pid, *children(stack.worker.pid)]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        found = run()
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    return found, drain()


def run(results: Any, *, stack: Any, cast: Any) -> None:
    count = scaled(3000, minimum=300)
    # Warm-up, not counted: imports, first connections and templates of each gunicorn worker.
    _load(stack, name="warm-up", count=60, duration=30, concurrency=3, rate=0, first=20_000_000)
    single = _load(stack, name="single", count=scaled(300, minimum=50), duration=15,
                   concurrency=1, rate=0, first=10_000_000)  # fmt: skip
    closed = _load(stack, name="closed", count=count, duration=60, concurrency=8, rate=0, first=0)
    opened = _load(stack, name="open", count=scaled(2000, minimum=200), duration=30,
                   concurrency=64, rate=GOAL_RATE, first=count)  # fmt: skip
    drained = drain()
    web_only, web_only_drained = _paused_worker(
        stack,
        lambda: _load(stack, name="open-web-only", count=scaled(2000, minimum=200), duration=30,
                      concurrency=64, rate=GOAL_RATE, first=count + 5_000_000),
    )  # fmt: skip
    web_only["mode"] = f"open loop at {GOAL_RATE}/s, worker paused (lookups drained after)"
    web_only["lookups_drained"] = web_only_drained
    pages = _staff_pages(stack, cast)
    figures = {"single": single, "closed": closed, "open": opened, "web_only": web_only,
               "staff_pages_http": pages}  # fmt: skip
    results.add("intake", {**figures, "lookups": drained})
    cpu = single["cpu_ms_per_submission"]
    results.row(
        "intake, one user (service time, no queueing)",
        f"{single['submissions_per_s']} submissions/s, POST p50 {single['post_p50_ms']} / p95 "
        f"{single['post_p95_ms']} ms, GET p50 {single['get_p50_ms']} ms; CPU per submission "
        f"(GET + POST + its lookup): {sum(cpu.values()):.0f} ms = "
        + ", ".join(f"{k} {v}" for k, v in cpu.items()),
    )
    for found in (closed, opened, web_only):
        ok = found["submissions_per_s"] >= GOAL_RATE * 0.98 and found["post_p95_ms"] < GOAL_P95_MS
        results.row(
            f"intake, {found['mode']}",
            f"{found['submissions_per_s']} submissions/s ({found['http_requests_per_s']} HTTP "
            f"req/s), POST p50 {found['post_p50_ms']} / p95 {found['post_p95_ms']} ms, GET p95 "
            f"{found['get_p95_ms']} ms, {found['errors']} errors"
            + (
                f"; lookups drained in {found['lookups_drained']['drain_seconds']} s, "
                f"{found['lookups_drained']['left']} left"
                if "lookups_drained" in found
                else ""
            ),
            "≥ 100/s, p95 < 150 ms",
            verdict(ok),
        )
    results.row(
        "staff pages through gunicorn",
        f"queue p50 {pages['queue']['p50_ms']} / p95 {pages['queue']['p95_ms']} ms; audit p50 "
        f"{pages['audit']['p50_ms']} / p95 {pages['audit']['p95_ms']} ms",
    )

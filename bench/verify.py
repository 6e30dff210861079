"""``manage.py audit_verify`` on the seeded chain, against a bare read of the same rows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from typing import Any

from django.db import connection

from bench.common import ROOT

# The same rows and columns the verifier reads (audit/verify.py), and nothing else done to them.
_SELECT = """
SELECT id,
       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
       action, outcome, actor_id, actor_label, actor_roles, ticket_ref, data::text,
       pii_commitment, prev_hash, hash, redacted_at IS NOT NULL,
       subject, reason, ip, user_agent, personal::text, pii_salt,
       actor_kind, on_behalf_of_id, on_behalf_of_label
  FROM audit_auditevent
 ORDER BY id
"""


def bare_read() -> tuple[int, float]:
    """Every row through a server-side cursor, 20,000 at a time: rows and seconds."""
    started = time.perf_counter()
    rows = 0
    with connection.chunked_cursor() as cursor:
        cursor.execute(_SELECT)
        while batch := cursor.fetchmany(20_000):
            rows += len(batch)
    return rows, time.perf_counter() - started


def run_command() -> dict[str, Any]:
    """The command as an operator runs it: its wall time, its own figure, its peak memory."""
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "manage.py", "audit_verify"], cwd=ROOT, stdout=out, stderr=out
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if process.returncode != 0:
        raise RuntimeError(f"audit_verify failed: {text}")
    match = re.search(r"OK: (\d+) events.*?([\d.]+) s \(", text)
    checked, seconds = (int(match.group(1)), float(match.group(2))) if match else (0, wall)
    return {
        "output": text.strip(),
        "checked": checked,
        "seconds": seconds,
        "wall_seconds": wall,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
    }


def measure() -> dict[str, Any]:
    bare_read()  # once to warm the page cache the same way for both
    rows, bare_seconds = bare_read()
    command = run_command()
    return {
        "events": rows,
        "bare_read_seconds": round(bare_seconds, 2),
        "bare_read_per_s": round(rows / bare_seconds),
        "verify_seconds": round(command["seconds"], 2),
        "verify_per_s": round(command["checked"] / command["seconds"]),
        "verify_wall_seconds": round(command["wall_seconds"], 2),
        "verify_wall_per_s": round(command["checked"] / command["wall_seconds"]),
        "ratio": round(command["seconds"] / bare_seconds, 2),
        "verify_cpu_seconds": round(command["cpu_seconds"], 2),
        "verify_per_cpu_s": round(command["checked"] / command["cpu_seconds"]),
        "verify_peak_rss_mib": command["peak_rss_mib"],
        "output": command["output"],
    }

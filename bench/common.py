"""Shared bits: percentiles, the results file, the scale knob, process memory."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def scale() -> float:
    value = float(os.environ.get("BENCH_SCALE", "1"))
    if not 0 < value <= 1:
        raise SystemExit("BENCH_SCALE must be in (0, 1]")
    return value


def scaled(full: int, *, minimum: int = 1) -> int:
    return max(minimum, int(full * scale()))


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0…100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "max_ms": round(max(ms), 2) if ms else 0.0,
    }


def vm_hwm_kib(pid: int) -> int | None:
    """The process's peak resident set (VmHWM), in KiB, while it is alive."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def machine() -> dict[str, Any]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    pg = subprocess.run(
        ["psql", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": pg,
        "scale": scale(),
    }


class Results:
    """Collects every benchmark's figures; written as JSON and printed as a table."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": machine(),
            "load_at_start": load_average(),
            "benchmarks": {},
        }
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, name: str, figures: dict[str, Any]) -> None:
        self.data["benchmarks"][name] = figures

    def row(self, what: str, figure: str, goal: str = "", verdict: str = "") -> None:
        self.rows.append((what, figure, goal, verdict))
        print(f"  {what}: {figure}  {goal} {verdict}".rstrip(), flush=True)

    def write(self, path: Path | None = None) -> Path:
        path = path or RESULTS / "latest.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.data["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.data["load_at_end"] = load_average()
        self.data["table"] = [list(r) for r in self.rows]
        path.write_text(json.dumps(self.data, indent=2) + "\n")
        return path

    def table(self) -> str:
        heads = ("benchmark", "figure", "goal", "")
        widths = [max(len(h), *(len(r[i]) for r in self.rows)) for i, h in enumerate(heads)]
        line = "  ".join(f"{{:<{w}}}" for w in widths)
        out = [line.format(*heads), line.format(*("-" * w for w in widths))]
        out += [line.format(*r) for r in self.rows]
        return "\n".join(out)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def cpu_seconds(pid: int) -> float:
    """CPU time of a process tree: the process, the children it reaped, its live children."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    ticks = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK") + sum(cpu_seconds(c) for c in children(pid))

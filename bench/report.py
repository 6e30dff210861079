"""``python -m bench.report [results.json]``: the figures as Markdown, for docs/BENCHMARKS.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.common import RESULTS


def _pages(rows: list[str], data: dict[str, Any]) -> None:
    small = data["benchmarks"].get("pages_small", {})
    full = data["benchmarks"].get("pages_full", {})
    if not full:
        return
    rows += [
        "| page | rows | p50 / p95 (ms) | baseline p50 / p95 (ms) | ratio p50 / p95 | "
        "Django CPU p50: page / baseline (ms) | queries (small → full) | baseline queries |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, f in full.items():
        q_small = small.get(name, {}).get("page", {}).get("queries", "–")
        rows.append(
            f"| {name} | {f['rows']} | {f['page']['p50_ms']} / {f['page']['p95_ms']} | "
            f"{f['baseline']['p50_ms']} / {f['baseline']['p95_ms']} | "
            f"{f['ratio_p50']}× / {f['ratio_p95']}× | {f['page'].get('cpu_p50_ms')} / "
            f"{f['baseline'].get('cpu_p50_ms')} | {q_small} → {f['page']['queries']} | "
            f"{f['baseline']['queries']} |"
        )
    if small:
        rows += ["", "At the small scale (1,000 tickets, 10,000 events):", ""]
        rows += ["| page | p50 / p95 (ms) | baseline p50 / p95 (ms) | ratio p50 / p95 |"]
        rows += ["|---|---|---|---|"]
        for name, f in small.items():
            rows.append(
                f"| {name} | {f['page']['p50_ms']} / {f['page']['p95_ms']} | "
                f"{f['baseline']['p50_ms']} / {f['baseline']['p95_ms']} | "
                f"{f['ratio_p50']}× / {f['ratio_p95']}× |"
            )


def render(data: dict[str, Any]) -> str:
    m = data["machine"]
    rows = [
        f"Run {data['started']} → {data['finished']}, scale {m['scale']}, "
        f"{m['cores']} × {m['cpu']}, {m['memory_gib']} GiB, Linux {m['kernel']}, "
        f"Python {m['python']}, {m['postgresql']}; load average at start "
        f"{data['load_at_start']}, at end {data['load_at_end']}; "
        f"total {data.get('total_seconds')} s.",
        "",
        "| benchmark | figure | goal | verdict |",
        "|---|---|---|---|",
    ]
    rows += [f"| {what} | {figure} | {goal} | {verdict} |" for what, figure, goal, verdict in
             data["table"] if not what.endswith(("small → full", "[small]", "[full]"))]  # fmt: skip
    rows.append("")
    _pages(rows, data)
    return "\n".join(rows) + "\n"


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else RESULTS / "latest.json"
    sys.stdout.write(render(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

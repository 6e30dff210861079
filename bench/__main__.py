"""``python -m bench [--only a,b]``: seed, run the benchmarks, print a table, write the results.

Run it through ``scripts/bench.sh`` (``make bench``), which brings up the throwaway PostgreSQL and
Redis and sets the environment. ``BENCH_SCALE`` (0 < s ≤ 1) shrinks data and sample counts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from typing import Any

import django

BENCHES = ("pages", "verify", "intake", "approval", "throttle")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        default=os.environ.get("BENCH_ONLY", ",".join(BENCHES)),
        help=f"comma-separated subset of {', '.join(BENCHES)} (env BENCH_ONLY)",
    )
    args = parser.parse_args(argv)
    args.only = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = set(args.only) - set(BENCHES)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    return args


def _window() -> tuple[str, str]:
    """A 30-day window around the middle of the seeded events (for the dated search)."""
    from audit.models import AuditEvent

    last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 1
    middle = AuditEvent.objects.filter(id__gte=last // 2).order_by("id").first()
    day = middle.created_at.date() if middle else dt.date.today()  # noqa: DTZ011
    return str(day - dt.timedelta(days=15)), str(day + dt.timedelta(days=15))


def run_pages(results: Any, cast: Any, *, label: str, samples: int) -> None:
    from bench import pages, seed
    from bench.common import verdict

    date_from, date_to = _window()
    figures = {}
    for page in pages.pages(
        account=seed.upn(42), ticket_ref=seed.reference(42), date_from=date_from, date_to=date_to
    ):
        user = cast.agent if page.baseline == "queue" else cast.auditor
        found = pages.measure(page, user=user, samples=samples)
        figures[page.name] = found
        ratio = max(found["ratio_p50"] or 0, found["ratio_p95"] or 0)
        results.row(
            f"{page.name} [{label}]",
            f"p50 {found['page']['p50_ms']} ms / p95 {found['page']['p95_ms']} ms, "
            f"{found['page']['queries']} queries; baseline p50 {found['baseline']['p50_ms']} / "
            f"p95 {found['baseline']['p95_ms']} ms; ratio p50 {found['ratio_p50']}× "
            f"p95 {found['ratio_p95']}× (Django CPU p50 {found['page']['cpu_p50_ms']} vs "
            f"{found['baseline']['cpu_p50_ms']} ms)",
            "≤ 3× baseline",
            verdict(ratio <= 3),
        )
    results.add(f"pages_{label}", figures)


def compare_query_counts(results: Any) -> None:
    from bench.common import verdict

    small = results.data["benchmarks"].get("pages_small", {})
    full = results.data["benchmarks"].get("pages_full", {})
    for name, found in full.items():
        if name in small:
            a, b = small[name]["page"]["queries"], found["page"]["queries"]
            what = f"{name}: SQL queries small → full"
            results.row(what, f"{a} → {b}", "constant", verdict(a == b))


def run_verify(results: Any) -> None:
    from bench import verify
    from bench.common import verdict

    found = verify.measure()
    results.add("audit_verify", found)
    results.row(
        "audit_verify",
        f"{found['events']:,} events in {found['verify_seconds']} s = "
        f"{found['verify_per_s']:,}/s ({found['verify_wall_per_s']:,}/s with start-up, "
        f"{found['verify_per_cpu_s']:,} per CPU-second); "
        f"bare read {found['bare_read_per_s']:,}/s, ratio {found['ratio']}×; "
        f"peak RSS {found['verify_peak_rss_mib']} MiB",
        "≥ 100,000 events/s",
        verdict(found["verify_per_s"] >= 100_000),
    )


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recovery_portal.settings")
    django.setup()
    # The bench process writes thousands of events; their SIEM lines would drown the table.
    logging.getLogger("audit.siem").setLevel(logging.WARNING)

    from bench import seed, services
    from bench.common import Results, scaled

    results = Results()
    started = time.perf_counter()
    cast = seed.ensure_cast()
    samples = scaled(40, minimum=10)
    if "pages" in args.only:
        print("seeding the small data set (1,000 tickets, 10,000 events)", flush=True)
        seed.seed_tickets(1000, cast=cast)
        seed.seed_events(10_000, cast=cast)
        run_pages(results, cast, label="small", samples=samples)
    tickets, events = scaled(100_000), scaled(1_000_000)
    print(f"seeding {tickets:,} tickets and {events:,} audit events", flush=True)
    seconds_t = seed.seed_tickets(tickets, cast=cast)
    seconds_e = seed.seed_events(events, cast=cast)
    results.add("seed", {"tickets": tickets, "events": events,
                         "tickets_seconds": round(seconds_t, 1),
                         "events_seconds": round(seconds_e, 1)})  # fmt: skip
    results.row(
        "seed", f"{tickets:,} tickets in {seconds_t:.1f} s, {events:,} events in {seconds_e:.1f} s"
    )
    if "pages" in args.only:
        run_pages(results, cast, label="full", samples=samples)
        compare_query_counts(results)
    if "verify" in args.only:
        run_verify(results)
    wanted = [b for b in ("intake", "approval", "throttle") if b in args.only]
    if wanted:
        services.run(results, cast=cast, wanted=wanted)
    results.data["total_seconds"] = round(time.perf_counter() - started, 1)
    path = results.write()
    print("\n" + results.table())
    print(f"\nresults: {path} (total {results.data['total_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

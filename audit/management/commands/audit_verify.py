"""manage.py audit_verify: walk the audit chain; exit 1 at the first broken link."""

from __future__ import annotations

import os
import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.verify import verify_chain

_ANCHOR = re.compile(r"^(\d+):([0-9a-f]{64})$")
# Hashing is the bottleneck (≈ 100,000 events per CPU-second): one walker per core. Capped, as
# each walker is also a PostgreSQL backend streaming its share (docs/BENCHMARKS.md).
_MAX_DEFAULT_WORKERS = 4
_DEFAULT_WORKERS = min(_MAX_DEFAULT_WORKERS, len(os.sched_getaffinity(0)))


def _anchor(text: str) -> tuple[int, str]:
    match = _ANCHOR.match(text.strip().lower())
    if not match:
        raise CommandError(f"--anchor wants EVENT_ID:SHA256_HEX (from a head digest), not {text!r}")
    return int(match.group(1)), match.group(2)


class Command(BaseCommand):
    help = (
        "Verify the audit trail: every hash link, every personal-data commitment, every "
        "published chain head. Exits 1 and names the first broken event."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--anchor",
            action="append",
            default=[],
            metavar="ID:HASH",
            help="a chain head kept outside the database (e.g. from the e-mailed digest)",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=_DEFAULT_WORKERS,
            help=(
                "forked processes sharing the walk (default: this machine's cores, at most "
                f"{_MAX_DEFAULT_WORKERS}; 1 walks in this process)"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        anchors = dict(_anchor(text) for text in options["anchor"])
        report = verify_chain(anchors=anchors, workers=max(1, options["workers"]))
        for note in report.notes:
            self.stderr.write(f"note: {note}")
        if report.broken is not None:
            raise CommandError(
                f"audit chain BROKEN at event #{report.broken.event_id}: {report.broken.problem}. "
                f"{report.checked} events before it are intact.",
                returncode=1,
            )
        self.stdout.write(
            f"audit chain OK: {report.checked} events ({report.redacted} redacted), "
            f"head #{report.head_id} {report.head_hash}, {report.anchors_checked} published "
            f"heads matched, {report.seconds:.2f} s ({report.rate:,.0f} events/s)"
        )

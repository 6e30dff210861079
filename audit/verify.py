"""Walking the chain: every link, every hash, every personal-data commitment, every anchor.

Streams the table through a server-side cursor in one REPEATABLE READ snapshot (concurrent
appends neither disturb nor slow it), so memory stays flat whatever the table's size.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import connection, transaction

from audit import actions, chain
from audit.models import AuditAnchor

_SELECT = """
SELECT id,
       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
       action, outcome, actor_id, actor_label, actor_roles, ticket_ref, data::text,
       pii_commitment, prev_hash, hash, redacted_at IS NOT NULL,
       subject, reason, ip, user_agent, personal::text, pii_salt
  FROM audit_auditevent
 ORDER BY id
"""
_BATCH = 20_000


@dataclass(frozen=True)
class Break:
    event_id: int
    problem: str


@dataclass
class Report:
    checked: int = 0
    redacted: int = 0
    head_id: int | None = None
    head_hash: str = chain.GENESIS_HASH
    anchors_checked: int = 0
    seconds: float = 0.0
    broken: Break | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.broken is None

    @property
    def rate(self) -> float:
        return self.checked / self.seconds if self.seconds else 0.0


def _purge_coverage() -> tuple[set[str], str]:
    """Ticket refs whose personal data a recorded purge blanked, and the latest cut-off for
    events without a ticket (ISO text, comparable with the verifier's timestamps)."""
    refs: set[str] = set()
    before = ""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data::text FROM audit_auditevent WHERE action = %s",
            [actions.AUDIT_RETENTION_PURGED],
        )
        for (text,) in cursor.fetchall():
            data = json.loads(text)
            refs.update(data.get("ticket_refs", []))
            before = max(before, data.get("before", ""))
    return refs, before


def _check_row(row: tuple, prev: str, refs: set[str], before: str) -> str | None:  # type: ignore[type-arg]
    """The readable diagnosis of one row (the fast path below only says yes or no)."""
    _, ts, action, outcome, actor_id, label, roles, ref, data, commit, prev_hash, stored = row[:12]
    if prev_hash != prev:
        return f"prev_hash {prev_hash[:16]}… does not match the previous event's hash {prev[:16]}…"
    body = chain.content(ts, action, outcome, actor_id, label, roles, ref, data, commit)
    if chain.link(prev_hash, body) != stored:
        return "its content does not match its hash (the row was changed)"
    redacted, subject, reason, ip, user_agent, personal, salt = row[12:]
    if redacted:
        if not (ref in refs if ref else ts < before):
            return "its personal data is blank but no recorded purge covers it"
    elif chain.commitment(salt, subject, reason, ip, user_agent, personal) != commit:
        return "its personal data does not match its commitment (the row was changed)"
    return None


def _scan(batch: list[tuple], prev: str, refs: set[str], before: str) -> int:  # type: ignore[type-arg]
    """Index of the first bad row in ``batch`` (or len(batch)). The hot loop: everything it
    calls is bound to a local name, and it builds the same bytes as audit.chain, inline."""
    sha256, dumps, version = hashlib.sha256, chain.dumps, chain.VERSION
    for index, row in enumerate(batch):
        (_, ts, action, outcome, actor_id, label, roles, ref, data, commit, prev_hash, stored,
         redacted, subject, reason, ip, user_agent, personal, salt) = row  # fmt: skip
        if prev_hash != prev:
            return index
        body = dumps([version, ts, action, outcome, actor_id, label, roles, ref, data, commit])
        if sha256(f"{prev_hash}\n{body}".encode()).hexdigest() != stored:
            return index
        if redacted:
            if not (ref in refs if ref else ts < before):
                return index
        else:
            pii = dumps([subject, reason, ip, user_agent, personal])
            if sha256(f"{salt}\n{pii}".encode()).hexdigest() != commit:
                return index
        prev = stored
    return len(batch)


def _batches() -> Iterator[list[tuple]]:  # type: ignore[type-arg]
    """The rows in id order, in batches; the next batch is fetched by a helper thread while
    this one is checked (psycopg releases the GIL while PostgreSQL works)."""
    pending: queue.Queue[list[tuple] | BaseException | None] = queue.Queue(maxsize=2)  # type: ignore[type-arg]
    with connection.chunked_cursor() as cursor:
        cursor.execute(_SELECT)

        def fetch() -> None:
            try:
                while batch := cursor.fetchmany(_BATCH):
                    pending.put(batch)
                pending.put(None)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                pending.put(exc)

        helper = threading.Thread(target=fetch, name="audit-verify-fetch", daemon=True)
        helper.start()
        try:
            while (item := pending.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            while helper.is_alive():  # drain so the helper can finish before the cursor closes
                with contextlib.suppress(queue.Empty):
                    pending.get(timeout=0.1)


def verify_chain(*, anchors: dict[int, str] | None = None) -> Report:
    """Walk the whole chain; stop at the first broken link.

    ``anchors`` ({event id: hash}) are heads kept outside the database (the e-mailed digests);
    the stored AuditAnchor rows are checked too. Read-only; one snapshot.
    """
    report = Report()
    started = time.perf_counter()
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:  # one snapshot for the whole walk (inside a caller's transaction: theirs)
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        expected = dict(AuditAnchor.objects.values_list("event_id", "event_hash"))
        for event_id, event_hash in (anchors or {}).items():
            if expected.get(event_id, event_hash) != event_hash:
                report.notes.append(f"stored anchor for #{event_id} differs from the given one")
            expected[event_id] = event_hash
        refs, before = _purge_coverage()
        report.broken = _walk(report, expected, refs, before)
    report.seconds = time.perf_counter() - started
    return report


def _walk(report: Report, anchors: dict[int, str], refs: set[str], before: str) -> Break | None:
    prev = chain.GENESIS_HASH
    seen: set[int] = set()
    for batch in _batches():
        good = _scan(batch, prev, refs, before)
        problem = None
        for index in range(good):
            event_id = batch[index][0]
            if event_id in anchors:
                seen.add(event_id)
                if anchors[event_id] != batch[index][11]:
                    good, problem = index, _REWRITTEN
                    break
        report.checked += good
        report.redacted += sum(row[12] for row in batch[:good])
        if good:
            prev = batch[good - 1][11]
            report.head_id, report.head_hash = batch[good - 1][0], prev
        if good < len(batch):
            row = batch[good]
            return Break(row[0], problem or _check_row(row, prev, refs, before) or "unreadable")
    report.anchors_checked = len(seen)
    missing = sorted(set(anchors) - seen)
    if missing:
        return Break(missing[0], "a published chain head is missing (rows were removed)")
    return None


_REWRITTEN = "its hash differs from the published chain head (the table was rewritten)"

"""Walking the chain: every link, every hash, every personal-data commitment, every anchor.

Streams the table through a server-side cursor in one REPEATABLE READ snapshot (concurrent
appends neither disturb nor slow it), so memory stays flat whatever the table's size.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import queue
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from audit import chain
from audit.actions import Action
from audit.models import AuditAnchor

_SELECT = """
SELECT id,
       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
       action, outcome, actor_id, actor_label, actor_roles, ticket_ref, data::text,
       pii_commitment, prev_hash, hash, redacted_at IS NOT NULL,
       subject, reason, ip, user_agent, personal::text, pii_salt,
       actor_kind, on_behalf_of_id, on_behalf_of_label
  FROM audit_auditevent
 WHERE id BETWEEN %s AND %s
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
            [Action.AUDIT_RETENTION_PURGED],
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
        return _unlinked(prev_hash, prev)
    kind, behalf_id, behalf_label = row[19:]
    actor = chain.Actor(kind, actor_id, label, roles, behalf_id, behalf_label)
    body = chain.content(ts, action, outcome, actor, ref, data, commit)
    if chain.link(prev_hash, body) != stored:
        return "its content does not match its hash (the row was changed)"
    redacted, subject, reason, ip, user_agent, personal, salt = row[12:19]
    if redacted:
        if not (ref in refs if ref else ts < before):
            return "its personal data is blank but no recorded purge covers it"
    elif chain.commitment(salt, subject, reason, ip, user_agent, personal) != commit:
        return "its personal data does not match its commitment (the row was changed)"
    return None


def _scan(batch: list[tuple], prev: str, refs: set[str], before: str) -> int:  # type: ignore[type-arg]
    """Index of the first bad row in ``batch`` (or len(batch)). The hot loop: everything it
    calls is bound to a local name, and it builds the same bytes as audit.chain, inline."""
    sha256, dumps, version, v1 = hashlib.sha256, chain.dumps, chain.VERSION, chain.VERSION_1
    for index, row in enumerate(batch):
        (_, ts, action, outcome, actor_id, label, roles, ref, data, commit, prev_hash, stored,
         redacted, subject, reason, ip, user_agent, personal, salt,
         kind, behalf_id, behalf_label) = row  # fmt: skip
        if prev_hash != prev:
            return index
        if kind:
            body = dumps([version, ts, action, outcome, kind, actor_id, label, roles,
                          behalf_id, behalf_label, ref, data, commit])  # fmt: skip
        else:
            body = dumps([v1, ts, action, outcome, actor_id, label, roles, ref, data, commit])
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


def _batches(db: BaseDatabaseWrapper, lo: int, hi: int) -> Iterator[list[tuple]]:  # type: ignore[type-arg]
    """The rows in id order, in batches; the next batch is fetched by a helper thread while
    this one is checked (psycopg releases the GIL while PostgreSQL works)."""
    pending: queue.Queue[list[tuple] | BaseException | None] = queue.Queue(maxsize=2)  # type: ignore[type-arg]
    with db.chunked_cursor() as cursor:
        cursor.execute(_SELECT, [lo, hi])

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


@dataclass
class _Span:
    """What one walker found over an id range (a worker's share, or the whole chain)."""

    first_id: int | None = None
    first_prev: str = ""
    last_id: int | None = None
    last_hash: str = ""
    checked: int = 0
    redacted: int = 0
    seen: set[int] = field(default_factory=set)
    broken: Break | None = None


@dataclass(frozen=True)
class _Job:
    lo: int
    hi: int
    refs: set[str]
    before: str
    anchors: dict[int, str]
    snapshot: str = ""


def _walk(job: _Job, db: BaseDatabaseWrapper = connection) -> _Span:
    """Check the rows with lo <= id <= hi. The first row's prev_hash is taken as given (the
    caller links spans); everything after it must link up."""
    span = _Span()
    prev: str | None = None
    for batch in _batches(db, job.lo, job.hi):
        if prev is None:
            prev = span.first_prev = batch[0][10]
            span.first_id = batch[0][0]
        good = _scan(batch, prev, job.refs, job.before)
        problem = None
        for index in range(good):
            event_id = batch[index][0]
            if event_id in job.anchors:
                span.seen.add(event_id)
                if job.anchors[event_id] != batch[index][11]:
                    good, problem = index, _REWRITTEN
                    break
        span.checked += good
        span.redacted += sum(row[12] for row in batch[:good])
        if good:
            prev = batch[good - 1][11]
            span.last_id, span.last_hash = batch[good - 1][0], prev
        if good < len(batch):
            row = batch[good]
            diagnosis = problem or _check_row(row, prev, job.refs, job.before)
            span.broken = Break(row[0], diagnosis or "unreadable row")
            break
    return span


def _walk_in_worker(job: _Job) -> _Span:
    """A forked worker's share: a connection of its own, in the parent's exported snapshot.

    The worker never touches the connection objects it inherited from its parent (closing one
    would end the parent's session); it opens a fresh one and leaves by os._exit.
    """
    db = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        db.ensure_connection()
        db.set_autocommit(False)
        with db.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute(f"SET TRANSACTION SNAPSHOT '{job.snapshot}'")  # validated, not input
        return _walk(job, db)
    finally:
        db.close()


def _ranges(lo: int, hi: int, parts: int) -> list[tuple[int, int]]:
    step = max(1, -(-(hi - lo + 1) // parts))
    return [(a, min(a + step - 1, hi)) for a in range(lo, hi + 1, step)]


def _stitch(report: Report, spans: list[_Span], anchors: dict[int, str]) -> Break | None:
    """Join the spans in id order: each must start where the previous one ended."""
    prev = chain.GENESIS_HASH
    seen: set[int] = set()
    for span in spans:
        if span.first_id is not None and span.first_prev != prev:
            return Break(span.first_id, _unlinked(span.first_prev, prev))
        seen |= span.seen
        report.checked += span.checked
        report.redacted += span.redacted
        if span.last_id is not None:
            prev = span.last_hash
            report.head_id, report.head_hash = span.last_id, span.last_hash
        if span.broken is not None:
            return span.broken
    report.anchors_checked = len(seen)
    missing = sorted(set(anchors) - seen)
    if missing:
        return Break(missing[0], "a published chain head is missing (rows were removed)")
    return None


def _unlinked(found: str, expected: str) -> str:
    return f"prev_hash {found[:16]}… does not match the previous event's hash {expected[:16]}…"


def _prepare(report: Report, given: dict[int, str]) -> tuple[dict[int, str], set[str], str]:
    anchors = dict(AuditAnchor.objects.values_list("event_id", "event_hash"))
    for event_id, event_hash in given.items():
        if anchors.get(event_id, event_hash) != event_hash:
            report.notes.append(f"stored anchor for #{event_id} differs from the given one")
        anchors[event_id] = event_hash
    refs, before = _purge_coverage()
    return anchors, refs, before


def _bounds() -> tuple[int, int] | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM audit_auditevent")
        lo, hi = cursor.fetchone()
    return None if lo is None else (lo, hi)


def verify_chain(*, anchors: dict[int, str] | None = None, workers: int = 1) -> Report:
    """Walk the whole chain; report the first broken link.

    ``anchors`` ({event id: hash}) are heads kept outside the database (the e-mailed digests);
    the stored AuditAnchor rows are checked too. Read-only, in one REPEATABLE READ snapshot.
    With ``workers`` > 1 (and no transaction already open) the id range is split between
    forked processes that share the snapshot; the result is the same, only sooner.
    """
    report = Report()
    started = time.perf_counter()
    outermost = not connection.in_atomic_block
    if workers > 1 and outermost:
        report.broken = _verify_forked(report, anchors or {}, workers)
    else:
        with transaction.atomic():
            if outermost:  # one snapshot for the whole walk (inside a caller's: theirs)
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            expected, refs, before = _prepare(report, anchors or {})
            bounds = _bounds()
            spans = [] if bounds is None else [_walk(_Job(*bounds, refs, before, expected))]
            report.broken = _stitch(report, spans, expected)
    report.seconds = time.perf_counter() - started
    return report


def _verify_forked(report: Report, given: dict[int, str], workers: int) -> Break | None:
    with multiprocessing.get_context("fork").Pool(workers) as pool, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            (snapshot,) = cursor.fetchone()
        if not _SNAPSHOT_ID.match(snapshot):
            raise RuntimeError(f"unexpected snapshot id {snapshot!r}")
        expected, refs, before = _prepare(report, given)
        bounds = _bounds()
        if bounds is None:
            return _stitch(report, [], expected)
        jobs = [
            _Job(a, b, refs, before, expected, snapshot)
            for a, b in _ranges(*bounds, workers * _SHARES_PER_WORKER)
        ]
        # The snapshot lives as long as this transaction: the workers finish inside it.
        spans = pool.map(_walk_in_worker, jobs, chunksize=1)
    return _stitch(report, spans, expected)


_SNAPSHOT_ID = re.compile(r"^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$")
_SHARES_PER_WORKER = 4
_REWRITTEN = "its hash differs from the published chain head (the table was rewritten)"

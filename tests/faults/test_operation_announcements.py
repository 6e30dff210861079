"""A step's outcome committed but not taken up by the case: the worker killed inside the
announcement, or PostgreSQL restarted under the receiver. The row stays owed, and one run of the
beat's announcement sweep on a real worker moves the case on, each step done once.

How the window is hit without a hook in the product: the test holds the ticket's row lock
(another PostgreSQL session, as a slow transaction of any process would) before the worker
starts. The worker carries out the first step, commits its outcome, starts the announcement and
waits in the receiver for that lock — PostgreSQL shows it waiting on us. That is the moment
between the outcome's commit and its announcement's commit, observed, not guessed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from graphops import tasks
from graphops.models import GraphOperation, Kind, OpStatus
from tests.faults.conftest import (
    UPN,
    directory_facts,
    in_background,
    tap_posts,
    verified_case,
    wait_for_ticket,
    wait_until,
)
from tests.fixtures_graph import Worker, _test_database_url
from tests.tickets.casework import staff
from tickets import workflow
from tickets.models import RecoveryStep, Status, TapChannel, Ticket

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# The receiver's row lock, as Django words it (tickets.workflow: select_for_update on the ticket).
TICKET_LOCK_QUERY = 'FROM "tickets_ticket"'


class HeldTicket:
    """A second PostgreSQL session holding ``SELECT … FOR UPDATE`` on one ticket."""

    def __init__(self, ticket: Ticket) -> None:
        self.session = psycopg.connect(_test_database_url())
        self.session.execute("SELECT id FROM tickets_ticket WHERE id = %s FOR UPDATE", [ticket.pk])
        self.pid = self.session.info.backend_pid

    def waiting(self) -> list[tuple[int, str]]:
        """The sessions blocked by this lock, with what they run (read from another session:
        this one is busy holding it)."""
        with psycopg.connect(_test_database_url(), autocommit=True) as probe:
            rows = probe.execute(
                "SELECT pid, query FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                [self.pid],
            ).fetchall()
        return [(int(pid), str(query)) for pid, query in rows]

    def release(self) -> None:
        if not self.session.closed:
            self.session.close()  # ends the transaction (rolled back): the lock goes with it


@contextmanager
def ticket_held(ticket: Ticket) -> Iterator[HeldTicket]:
    held = HeldTicket(ticket)
    try:
        yield held
    finally:
        held.release()


def _session_alive(pid: int) -> bool:
    with psycopg.connect(_test_database_url(), autocommit=True) as probe:
        return bool(
            probe.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
        )


def _sweeps_received(worker: Worker) -> int:
    return len(re.findall(r"Task graphops\.announce_unannounced\[[\w-]+\] received", worker.log()))


def _operations(ticket: Ticket) -> list[GraphOperation]:
    return list(GraphOperation.objects.filter(correlation=ticket.reference).order_by("created_at"))


def _announcing_first_step(held: HeldTicket, ticket: Ticket) -> tuple[GraphOperation, int]:
    """Wait until the worker committed the first step's outcome and sits in its announcement,
    blocked in the receiver by the held ticket; its PostgreSQL session id."""
    [(pid, query)] = wait_until(held.waiting, what="the worker's receiver waiting for the ticket")
    assert TICKET_LOCK_QUERY in query and "FOR UPDATE" in query
    [first] = _operations(ticket)
    assert first.kind == Kind.REVOKE_SESSIONS and first.status == OpStatus.SUCCEEDED
    assert first.announced_at is None
    return first, pid


def _stranded(ticket: Ticket, first: GraphOperation) -> None:
    """What the old after-commit signal left for good: the outcome committed, the case not
    following it."""
    ticket.refresh_from_db()
    first.refresh_from_db()
    assert ticket.status == Status.EXECUTING
    assert first.status == OpStatus.SUCCEEDED and first.announced_at is None
    assert [op.pk for op in _operations(ticket)] == [first.pk]  # the next step never requested


def _each_step_once(simtenant, ticket: Ticket) -> None:  # type: ignore[no-untyped-def]
    steps = RecoveryStep.objects.filter(ticket=ticket).order_by("position")
    assert [s.kind for s in steps] == [Kind.REVOKE_SESSIONS, Kind.DELETE_METHODS, Kind.ISSUE_TAP]
    assert sorted(str(s.operation_id) for s in steps) == sorted(
        str(op.pk) for op in _operations(ticket)
    )
    assert all(op.status == OpStatus.SUCCEEDED and op.announced_at for op in _operations(ticket))
    assert simtenant.user(UPN)["taps_issued"] == 1 and tap_posts(simtenant, ticket) == 1
    assert workflow.reveal_tap(ticket, channel=TapChannel.REQUESTER)


def test_worker_killed_after_the_commit_before_the_announcement_one_sweep_moves_the_case_on(
    simtenant, start_worker, run_operation
) -> None:  # type: ignore[no-untyped-def]
    # given an approved case whose first step waits in the broker, and its ticket held
    facts = directory_facts(run_operation)
    ticket, _agent = verified_case(facts)
    workflow.approve(ticket, by=staff("approver", ["approver"]))
    with ticket_held(ticket) as held:
        worker = start_worker()
        first, worker_session = _announcing_first_step(held, ticket)
        # (another worker starts meanwhile: nothing is queued for it to take)
        starting = in_background(start_worker, 1)
        # when the worker dies right there (kill -9), before its announcement commits
        worker.kill()
    wait_until(lambda: not _session_alive(worker_session), what="the dead worker's session gone")
    # then the outcome is committed and owed, and nothing moved the case
    _stranded(ticket, first)
    # when the other worker runs the beat's announcement sweep, once
    [survivor] = starting.result()
    tasks.announce_unannounced.delay()
    # then the case moves on and completes, each step carried out once
    wait_for_ticket(ticket, Status.EXECUTED, Status.FAILED, timeout=60)
    assert ticket.status == Status.EXECUTED, survivor.log()[-3000:]
    assert _sweeps_received(survivor) == 1
    _each_step_once(simtenant, ticket)


def test_postgres_restarted_during_the_receiver_one_sweep_moves_the_case_on(
    simtenant, start_worker, run_operation, services
) -> None:  # type: ignore[no-untyped-def]
    # given the worker inside the first step's announcement, its receiver waiting on the ticket
    facts = directory_facts(run_operation)
    ticket, _agent = verified_case(facts)
    workflow.approve(ticket, by=staff("approver", ["approver"]))
    with ticket_held(ticket) as held:
        worker = start_worker()
        first, _session = _announcing_first_step(held, ticket)
        # when PostgreSQL stops under the receiver (fast shutdown: every session cut)
        services.stop_postgres()
    # then the worker reports the outcome not taken up, and could not even record that
    wait_until(
        lambda: "the failed announcement not recorded" in worker.log(),
        what="the worker logging the failed announcement",
    )
    assert "outcome not taken up (OperationalError)" in worker.log()
    # when PostgreSQL is back
    services.start_postgres()
    # then the outcome is still owed and the case waits
    _stranded(ticket, first)
    # when the same worker (it survived the outage) runs the beat's sweep, once
    tasks.announce_unannounced.delay()
    # then the case moves on and completes, each step once
    wait_for_ticket(ticket, Status.EXECUTED, Status.FAILED, timeout=60)
    assert ticket.status == Status.EXECUTED, worker.log()[-3000:]
    assert _sweeps_received(worker) == 1
    _each_step_once(simtenant, ticket)

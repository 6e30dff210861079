"""Fault injection plumbing: the test PostgreSQL and Redis stopped and started again on the same
port and data directory (as scripts/test.sh started them), Celery workers with short recovery
windows, a TCP relay in front of the token endpoint that can be switched off, and an approved
case for a real account of the simulated tenant."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from graphops.models import GraphOperation, Kind
from tests.fixtures_graph import ROOT, SimTenant, Worker, _test_database_url, free_port
from tests.tickets import casework
from tests.tickets.casework import make_manager, make_ticket, staff, verify
from tickets import plans, workflow
from tickets.models import Ticket

UPN = "mario.rossi@contoso.example"

# Short windows so that recovery happens within a test: a RUNNING row is stale after 5 s, a
# quiet PENDING row is re-sent after 1 s, a finished row not announced is announced by the next
# sweep, a Retry-After is capped at 2 s, Graph calls time out after 3 s. The code paths are the
# production ones; only the durations shrink.
FAST_RECOVERY = {
    "GRAPH_STALE_AFTER_SECONDS": "5",
    "GRAPH_RESEND_AFTER_SECONDS": "1",
    "GRAPH_ANNOUNCE_AFTER_SECONDS": "0",
    "GRAPH_MAX_RETRY_AFTER_SECONDS": "2",
    "GRAPH_TIMEOUT_SECONDS": "3",
}


def _lib(command: str) -> None:
    """Run one scripts/lib.sh helper with the test run's environment (ports, dirs, PGBIN)."""
    subprocess.run(  # noqa: S603 - fixed script, our own helpers
        ["bash", "-c", f'source "{ROOT}/scripts/lib.sh"; {command}'],  # noqa: S607
        check=True,
        env=os.environ,
        timeout=90,
        capture_output=True,
    )


class Services:
    """Stop and start the test run's PostgreSQL and Redis, exactly as scripts/test.sh does."""

    def __init__(self) -> None:
        self.pg_down = False
        self.redis_down = False

    def stop_postgres(self) -> None:
        connections.close_all()
        self.pg_down = True
        _lib('pg_stop "$RP_TEST_PG_DIR"')

    def start_postgres(self) -> None:
        _lib('pg_start "$RP_TEST_PG_DIR" "$RP_TEST_PG_PORT" test')
        self.pg_down = False
        connections.close_all()  # this process's connections died with the server

    def stop_redis(self) -> None:
        self.redis_down = True
        _lib('redis_stop "$RP_TEST_REDIS_PORT"')

    def start_redis(self) -> None:
        _lib('redis_start "$RP_TEST_REDIS_DIR" "$RP_TEST_REDIS_PORT" test')
        self.redis_down = False


@pytest.fixture
def services() -> Iterator[Services]:
    """Whatever a test stopped is running again afterwards, even when the test failed."""
    for name in ("RP_TEST_PG_DIR", "RP_TEST_PG_PORT", "RP_TEST_REDIS_DIR", "RP_TEST_REDIS_PORT"):
        assert os.environ.get(name), f"{name} is unset: run the tests through scripts/test.sh"
    handle = Services()
    try:
        yield handle
    finally:
        if handle.redis_down:
            handle.start_redis()
        if handle.pg_down:
            handle.start_postgres()


@pytest.fixture(autouse=True)
def fresh_broker_pools() -> None:
    """Fresh kombu pools in this process (another test may have left closed ones behind)."""
    from recovery_portal.celery import app

    app._pool = None
    app.amqp._producer_pool = None


class Relay:
    """A TCP relay on a free port in front of another port; ``down()`` closes the listening
    socket (clients get "connection refused"), ``up()`` opens it again on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not, and
            # that accept() would still take one more connection.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by down()
            if self._listener is not listener:
                client.close()
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def start_worker(
    transactional_db: None, simtenant: SimTenant, settings: Any, tmp_path: Path
) -> Iterator[Callable[..., Worker]]:
    """Start real Celery workers (solo pool) with the short recovery windows; all stopped at
    the end. Extra environment values (e.g. another token endpoint) per call."""
    started: list[Worker] = []

    def start(**extra_env: str) -> Worker:
        env = {
            **os.environ,
            **simtenant.env,
            **FAST_RECOVERY,
            "DATABASE_URL": _test_database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "DB_CONN_MAX_AGE": "0",
            **extra_env,
        }
        log_dir = tmp_path / f"worker-{uuid.uuid4().hex[:8]}"
        log_dir.mkdir()
        worker = Worker(env=env, log_dir=log_dir).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def in_background(start: Callable[..., Worker], count: int = 1) -> Future[list[Worker]]:
    """Start ``count`` workers at once in threads (each takes seconds to import everything),
    while the test prepares its case."""
    pool = ThreadPoolExecutor(max_workers=count + 1)
    future = pool.submit(lambda: list(pool.map(lambda _: start(), range(count))))
    future.add_done_callback(lambda _: pool.shutdown(wait=False))
    return future


def busy_with(workers: list[Worker], task: str) -> Worker:
    """The worker that received a message for ``task`` (its log says so)."""
    return wait_until(
        lambda: next((w for w in workers if f"{task}[" in w.log()), None),
        what=f"a worker receiving {task}",
    )


def directory_facts(run_operation: Callable[[Any], Any]) -> dict[str, Any]:
    """What the intake's directory lookup stores, read from the simulated tenant."""
    lookup = GraphOperation.objects.create(kind=Kind.DIRECTORY_LOOKUP, target_upn=UPN)
    return run_operation(lookup).result  # type: ignore[no-any-return]


def verified_case(facts: dict[str, Any], **plan_changes: Any) -> tuple[Ticket, Any]:
    """A case verified by an agent and confirmed by the manager: waiting for approval."""
    manager_upn = facts["manager"]["userPrincipalName"].lower()
    ticket = make_ticket(
        upn=UPN, manager_upn=manager_upn, directory_facts=facts, is_privileged=False
    )
    agent = staff("agent", ["helpdesk_agent"])
    lost = plans.lost_device_method_ids(ticket)
    the_plan = casework.plan(method_ids_to_remove=tuple(lost), **plan_changes)
    verify(ticket, agent, the_plan=the_plan)
    workflow.decide_as_manager(
        casework.last_link_token(),
        by=make_manager(email=manager_upn),
        confirm=True,
        reason="He told me this morning.",
    )
    return ticket, agent


def wait_until(check: Callable[[], Any], *, timeout: float = 45, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"{what} not met after {timeout} s")


def wait_for_ticket(ticket: Ticket, *statuses: str, timeout: float = 45) -> Ticket:
    def reached() -> bool:
        ticket.refresh_from_db()
        return ticket.status in statuses

    wait_until(reached, timeout=timeout, what=f"{ticket.reference} in {statuses}")
    return ticket


def tap_operations(ticket: Ticket) -> list[GraphOperation]:
    return list(GraphOperation.objects.filter(correlation=ticket.reference, kind=Kind.ISSUE_TAP))


def tap_posts(simtenant: SimTenant, ticket: Ticket) -> int:
    """TAP POSTs Graph received for this case (by client-request-id: a stalled request of an
    earlier test may be logged after the reset)."""
    ids = {str(op.pk) for op in tap_operations(ticket)}
    return sum(
        1
        for r in simtenant.requests()
        if r["method"] == "POST"
        and "temporaryAccessPassMethods" in r["path"]
        and r["client_request_id"] in ids
    )

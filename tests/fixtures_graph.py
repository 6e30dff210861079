"""Fixtures for the Graph boundary (simulated tenant) and real Celery worker processes.

Registered as a plugin by tests/conftest.py so every test package can use them.

- ``simtenant``: the simulated Entra tenant (one process per test session, on free ports),
  reset to the demo directory before each test, with the portal's settings pointed at it.
  Its control helpers: ``fault(...)``, ``withhold(...)``, ``tap_policy(...)``,
  ``reject_tokens()``, ``user(upn)``, ``state()``, ``requests()``, ``register_method(...)``,
  ``tap_event(...)``, ``as_admin(...)`` (a change made in the admin center), ``audit_log()``,
  ``audit_log_settings(...)``.
- ``celery_worker``: a real ``celery worker`` process (solo pool) on the test database and the
  test Redis, ready when the fixture returns, its mails in files (``.mails()``); ``.kill()``
  sends SIGKILL, ``.start()`` starts another. Needs ``transactional_db`` (the worker must see
  committed rows) and ``simtenant``.
- ``run_operation(op)``: run a ledger row in this process, as the worker would (for tests that
  need no queue); ``wait_for_status(op, *statuses)``: poll the row.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from simtenant import defaults

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SimTenant:
    """A handle on the simulator process: URLs, settings values, control API."""

    def __init__(self, *, graph_port: int, login_port: int, data_dir: Path) -> None:
        self.url = f"http://127.0.0.1:{graph_port}"
        self.login_url = f"https://127.0.0.1:{login_port}"
        self.ca_file = str(data_dir / "cert.pem")
        self.data_dir = data_dir

    @property
    def env(self) -> dict[str, str]:
        """Environment for a process (worker, manage.py) that must talk to this simulator."""
        return {
            "GRAPH_CLOUD": "simulated",
            "SIMTENANT_URL": self.url,
            "SIMTENANT_LOGIN_URL": self.login_url,
            "SIMTENANT_CA_FILE": self.ca_file,
        }

    def settings_values(self) -> dict[str, Any]:
        return {
            "GRAPH_CLOUD": "simulated",
            "GRAPH_TENANT_ID": defaults.SIM_TENANT_ID,
            "GRAPH_CLIENT_ID": defaults.SIM_CLIENT_ID,
            "GRAPH_CLIENT_SECRET": defaults.SIM_CLIENT_SECRET,
            "GRAPH_CLIENT_CERTIFICATE_PATH": "",
            "GRAPH_AUTHORITY_HOST": self.login_url,
            "GRAPH_BASE_URL": f"{self.url}/v1.0",
            "GRAPH_SCOPE": "https://graph.microsoft.com/.default",
            "SIMTENANT_URL": self.url,
            "SIMTENANT_LOGIN_URL": self.login_url,
            "SIMTENANT_CA_FILE": self.ca_file,
            "CA_EXCLUSION_GROUP_ID": defaults.SIM_EXCLUSION_GROUP_ID,
        }

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - loopback http, our own simulator
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            raw = response.read()
        return json.loads(raw) if raw else None

    def reset(self, seed: str = "demo") -> None:
        self.call("POST", "/_sim/reset", {"seed": seed})

    def fault(self, **fault: Any) -> None:
        """E.g. ``fault(status=429, count=3, retry_after=1, method="POST",
        path_contains="temporaryAccessPassMethods")`` or ``fault(delay_seconds=30,
        delay_after_action=True, ...)``."""
        self.call("POST", "/_sim/faults", fault)

    def clear_faults(self) -> None:
        self.call("DELETE", "/_sim/faults")

    def withhold(self, *permissions: str) -> None:
        self.call("POST", "/_sim/permissions", {"withhold": list(permissions)})

    def grant(self, *permissions: str) -> None:
        self.call("POST", "/_sim/permissions", {"grant": list(permissions)})

    def tap_policy(self, **fields: Any) -> dict[str, Any]:
        return self.call("PATCH", "/_sim/tap-policy", fields)  # type: ignore[no-any-return]

    def reject_tokens(self, reject: bool = True) -> None:
        self.call("POST", "/_sim/tokens", {"reject": reject})

    def state(self) -> dict[str, Any]:
        return self.call("GET", "/_sim/state")  # type: ignore[no-any-return]

    def user(self, upn: str) -> dict[str, Any]:
        return self.call("GET", f"/_sim/users/{upn}")  # type: ignore[no-any-return]

    def requests(self) -> list[dict[str, Any]]:
        return self.call("GET", "/_sim/requests")["requests"]  # type: ignore[no-any-return]

    def register_method(self, upn: str, type_: str, **data: Any) -> str:
        return self.call("POST", f"/_sim/users/{upn}/methods", {"type": type_, **data})["id"]  # type: ignore[no-any-return]

    def tap_event(self, upn: str, action: str) -> None:
        self.call("POST", f"/_sim/users/{upn}/tap", {"action": action})

    def add_app(self, **app: Any) -> None:
        self.call("POST", "/_sim/apps", app)

    def as_admin(self, action: str, user: str, **fields: Any) -> dict[str, Any]:
        """A change made "in the Entra admin center" (outside the portal), e.g.
        ``as_admin("issue_tap", upn)`` or ``as_admin("delete_method", upn, method_id=...)``."""
        body = {"action": action, "user": user, **fields}
        return self.call("POST", "/_sim/admin-center", body)  # type: ignore[no-any-return]

    def audit_log(self) -> list[dict[str, Any]]:
        """Every entry of the tenant's directory audit log, visible yet or not."""
        return self.call("GET", "/_sim/audit-log")["entries"]  # type: ignore[no-any-return]

    def audit_log_settings(self, **fields: Any) -> dict[str, Any]:
        """E.g. ``audit_log_settings(page_size=2, delay_seconds=0, late_next=1,
        late_by_seconds=5, duplicate_next=1, correlation="request-id", premium=False)``."""
        return self.call("PATCH", "/_sim/audit-log", fields)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def simtenant_process() -> Iterator[SimTenant]:
    data_dir = Path(tempfile.mkdtemp(prefix="simtenant-"))
    graph_port, login_port = free_port(), free_port()
    log = open(data_dir / "simtenant.log", "wb")  # noqa: SIM115 - closed at teardown
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simtenant",
            "--graph-port",
            str(graph_port),
            "--login-port",
            str(login_port),
            "--data-dir",
            str(data_dir),
            "--seed",
            "demo",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    sim = SimTenant(graph_port=graph_port, login_port=login_port, data_dir=data_dir)
    try:
        _wait_for(
            lambda: Path(sim.ca_file).exists() and Path(sim.ca_file).stat().st_size > 0,
            what="the simulated tenant",
            timeout=30,
            process=process,
        )
        yield sim
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def simtenant(simtenant_process: SimTenant, settings: Any) -> Iterator[SimTenant]:
    """The simulator, freshly seeded, with the portal's settings pointed at it."""
    from graphops import credential

    simtenant_process.reset()
    for name, value in simtenant_process.settings_values().items():
        setattr(settings, name, value)
    credential.forget()  # a token from before the reset would be unknown to the simulator
    yield simtenant_process
    credential.forget()


def _wait_for(
    check: Any, *, what: str, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}")
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {timeout} s")


class Worker:
    """One real ``celery worker`` process (solo pool: the task runs in the process we kill)."""

    def __init__(self, *, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = log_dir / "worker-0.log"
        self.started = 0

    def start(self) -> Worker:
        self.started += 1
        self.log_path = self.log_dir / f"worker-{self.started}.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "celery"),
                "-A",
                "recovery_portal",
                "worker",
                "--pool",
                "solo",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"test-{uuid.uuid4().hex[:8]}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        _wait_for(
            lambda: "ready." in self.log(),
            what="the Celery worker",
            timeout=60,
            process=self.process,
        )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def mails(self) -> list[EmailMessage]:
        """The mails this worker sent, when its mail backend is Django's file backend (one
        file per connection, 79 dashes between messages)."""
        if not self.env.get("EMAIL_BACKEND", "").endswith("filebased.EmailBackend"):
            return []
        found = []
        for path in sorted(Path(self.env["EMAIL_FILE_PATH"]).glob("*")):
            for chunk in re.split(rb"\n-{79}\n", path.read_bytes()):
                if chunk.strip():
                    found.append(email.message_from_bytes(chunk, policy=email.policy.default))
        return found  # type: ignore[return-value]

    def kill(self) -> None:
        """SIGKILL: no cleanup, no ack — as when the machine dies."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def _test_database_url() -> str:
    """The test database as pytest-django named it (test_…), for another process."""
    from django.db import connection

    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def celery_worker(
    transactional_db: None, simtenant: SimTenant, settings: Any, tmp_path: Path
) -> Iterator[Worker]:
    """A started worker on the test database (its real name) and the test Redis. Its mails go
    to files (``worker.mails()``) unless the environment already says where they go."""
    env = {
        **os.environ,
        **simtenant.env,
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DB_CONN_MAX_AGE": "0",
        "GRAPH_STALE_AFTER_SECONDS": str(settings.GRAPH_STALE_AFTER_SECONDS),
    }
    if not env.get("EMAIL_BACKEND", "").endswith("filebased.EmailBackend"):
        (tmp_path / "worker-mail").mkdir()
        env["EMAIL_BACKEND"] = "django.core.mail.backends.filebased.EmailBackend"
        env["EMAIL_FILE_PATH"] = str(tmp_path / "worker-mail")
    worker = Worker(env=env, log_dir=tmp_path).start()
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def run_operation() -> Any:
    """Run a ledger row in this process, exactly as a worker would (claim, call, record)."""
    from graphops import runner

    def run(operation: Any) -> Any:
        runner.run(str(operation.pk))
        operation.refresh_from_db()
        return operation

    return run


def wait_for_status(operation: Any, *statuses: str, timeout: float = 60) -> Any:
    """Poll the row until it reaches one of ``statuses`` (committed by another process)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        operation.refresh_from_db()
        if operation.status in statuses:
            return operation
        time.sleep(0.2)
    raise TimeoutError(f"operation {operation.pk} still {operation.status} after {timeout} s")


@pytest.fixture
def wait_for() -> Any:
    return wait_for_status

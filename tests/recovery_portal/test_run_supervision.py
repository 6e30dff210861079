"""`make run` (scripts/run.sh, its parts kept by supervisord with scripts/supervisord.conf): a
part killed with SIGKILL comes back and the portal is healthy again, a terminal's Ctrl-C stops
every part and leaves no process behind, a second run on the same data works, and a part that
keeps crashing stops the whole run, saying which.

run.sh is started as a terminal starts a foreground job: in a process group of its own, with the
default signal dispositions and nothing blocked, whatever this test process inherited. A shell
that ignores SIGINT (nohup, or `cmd &` in a script) passes SIG_IGN down to every child, and bash
cannot trap a signal that was ignored when it started; one test starts run.sh from such a parent.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from recovery_portal import health
from tests.conftest import wait_until
from tests.fixtures_graph import ROOT, free_port

pytestmark = pytest.mark.worker

SPAWNED = re.compile(r"spawned: '(\w+)' with pid (\d+)")


def terminal_dispositions() -> None:
    """In the child, before exec: every signal back to its default action and none blocked."""
    for number in signal.valid_signals():
        if number not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(number, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


@dataclass
class Folder:
    """Where a run keeps its data (never the developer's .local/), and its free ports."""

    path: Path
    ports: dict[str, int]

    @property
    def local(self) -> Path:
        return self.path / "local"


@pytest.fixture(scope="module")
def folder() -> Iterator[Folder]:
    """One folder for the module's runs: the first one creates the data, the next ones reuse it
    as a developer's second `make run` does."""
    path = Path(tempfile.mkdtemp(prefix="rp-run-"))
    path.chmod(0o755)  # PostgreSQL runs as the postgres user
    yield Folder(path, {name: free_port() for name in ("PG", "REDIS", "WEB", "SIM", "SIM_LOGIN")})
    shutil.rmtree(path, ignore_errors=True)


class Run:
    """scripts/run.sh as a developer starts it at a terminal."""

    def __init__(self, folder: Folder, name: str) -> None:
        self.folder = folder
        self.out = folder.path / f"{name}.out"
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/root"),
            "RP_LOCAL_DIR": str(folder.local),
            "WEB_CONCURRENCY": "1",
            **{f"RP_{name}_PORT": str(port) for name, port in folder.ports.items()},
        }
        with open(self.out, "w") as output:
            self.process = subprocess.Popen(
                ["bash", str(ROOT / "scripts" / "run.sh")],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, as the terminal's foreground job
                preexec_fn=terminal_dispositions,
            )

    def text(self) -> str:
        return self.out.read_text()

    def wait_ready(self) -> None:
        wait_until(lambda: "press Ctrl-C" in self.text(), timeout=240, what="run.sh up")

    def spawned(self, part: str) -> list[int]:
        return [int(pid) for name, pid in SPAWNED.findall(self.text()) if name == part]

    def ctrl_c(self) -> None:
        """What a terminal does on Ctrl-C: SIGINT to every process of the foreground group."""
        os.killpg(self.process.pid, signal.SIGINT)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=120)


@pytest.fixture
def run_sh(folder: Folder) -> Iterator[Callable[[str], Run]]:
    started: list[Run] = []

    def start(name: str) -> Run:
        started.append(Run(folder, name))
        return started[-1]

    yield start
    for run in started:
        run.stop()


def portal_processes(folder: Folder) -> list[int]:
    """Every live process started for this folder's run, wherever it was reparented: each one
    inherits run.sh's environment, RP_LOCAL_DIR included."""
    marker = f"RP_LOCAL_DIR={folder.local}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or a kernel thread
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead for our purposes


def ignores(pid: int, number: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    mask = int(re.search(r"^SigIgn:\s+([0-9a-f]+)$", status, re.M).group(1), 16)  # type: ignore[union-attr]
    return bool(mask & (1 << (number - 1)))


def health_status(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=5) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def assert_stopped_cleanly(run: Run, folder: Folder) -> None:
    text = run.text()
    after_ctrl_c = text[text.index("received SIGINT") :]
    assert "spawned:" not in after_ctrl_c, "a part was started again during the shutdown"
    assert text.rstrip().endswith("stopped."), text[-2000:]
    assert portal_processes(folder) == []
    assert not (folder.local / "pg" / "data" / "postmaster.pid").exists()
    assert health_status(folder.ports["WEB"]) == 0


def test_run_sh_restarts_a_killed_worker_and_stops_everything_on_ctrl_c(run_sh, folder) -> None:  # type: ignore[no-untyped-def]
    # given the whole portal started by scripts/run.sh, healthy
    run = run_sh("first")
    run.wait_ready()
    assert health_status(folder.ports["WEB"]) == 200, run.text()
    started = {name: int(pid) for name, pid in SPAWNED.findall(run.text())}
    assert set(started) == {"events", "postgres", "redis", "simtenant", "web", "worker", "beat"}
    worker = run.spawned("worker")[0]
    pool = children(worker)
    assert pool, "the worker's pool processes"
    # when someone kill -9s the worker (and its last heartbeat is forgotten)
    os.kill(worker, signal.SIGKILL)
    redis.Redis(port=folder.ports["REDIS"]).delete(health.HEARTBEAT_KEY)
    # then a new worker is started, /health/ is green again (a live worker's heartbeat), and the
    # killed worker's pool processes are gone rather than orphaned
    wait_until(lambda: len(run.spawned("worker")) == 2, timeout=30, what="a new worker")
    assert run.spawned("worker")[1] != worker
    assert "exited: worker (terminated by SIGKILL; not expected)" in run.text()
    wait_until(lambda: health_status(folder.ports["WEB"]) == 200, timeout=90, what="/health/ green")
    wait_until(lambda: not any(alive(pid) for pid in pool), timeout=10, what="old pool gone")
    running = portal_processes(folder)
    assert {run.spawned("worker")[1], started["postgres"], started["web"]} <= set(running)
    # when the terminal's Ctrl-C reaches run.sh's process group
    run.ctrl_c()
    # then everything stops, nothing is started again, no process is left, PostgreSQL is down
    assert run.process.wait(timeout=120) == 130
    assert_stopped_cleanly(run, folder)
    assert not any(alive(pid) for pid in running)


def test_run_sh_from_a_parent_that_ignores_sigint_still_stops_on_ctrl_c(run_sh, folder) -> None:  # type: ignore[no-untyped-def]
    # given a test process that ignores SIGINT, as one started by nohup or `… &` does
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        # when it starts run.sh (a second run on the data the first one left, if it ran)
        run = run_sh("second")
    finally:
        signal.signal(signal.SIGINT, previous)
    # then run.sh has a terminal's dispositions, comes up healthy, and a Ctrl-C stops it all
    assert not ignores(run.process.pid, signal.SIGINT)
    run.wait_ready()
    assert health_status(folder.ports["WEB"]) == 200, run.text()
    run.ctrl_c()
    assert run.process.wait(timeout=120) == 130
    assert_stopped_cleanly(run, folder)


def test_run_sh_stops_everything_when_a_part_keeps_crashing(run_sh, folder) -> None:  # type: ignore[no-untyped-def]
    # given the simulated tenant's port taken by another program
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", folder.ports["SIM"]))
        squatter.listen()
        # when the portal is started
        run = run_sh("crashing")
        returncode = run.process.wait(timeout=180)
    # then the simulated tenant is tried four times, given up, and the whole run stops, saying so
    text = run.text()
    assert returncode == 1, text[-2000:]
    assert len(run.spawned("simtenant")) == 4
    assert "gave up: simtenant entered FATAL state" in text
    assert "simtenant kept crashing, so everything stopped" in text
    assert "Address already in use" in (folder.local / "logs" / "simtenant.log").read_text()
    assert "press Ctrl-C" not in text
    assert portal_processes(folder) == []

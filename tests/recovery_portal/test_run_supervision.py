"""scripts/lib.sh ``supervise`` (what `make run` starts each long-running part with): a part that
exits or is killed comes back, one that keeps crashing is given up on, and a stop request stops
it for good. Real processes, real signals; the last test runs scripts/run.sh itself."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from recovery_portal import health
from tests.fixtures_graph import ROOT, free_port

STARTED = re.compile(r"started demo \(pid (\d+)\)")
PART_STARTED = re.compile(r"started (\w+) \(pid (\d+)\)")


class Supervisor:
    """``supervise demo LOG COMMAND…`` run by bash as scripts/run.sh runs it (set -euo pipefail)."""

    def __init__(self, tmp_path: Path, command: str, backoff: str = "0.2") -> None:
        self.log = tmp_path / "demo.log"
        self.process = subprocess.Popen(  # noqa: S603 - our own script
            [  # noqa: S607
                "bash",
                "-c",
                f'set -euo pipefail; source "{ROOT}/scripts/lib.sh"; '
                f'supervise demo "{self.log}" sh -c "$0"',
                command,
            ],
            cwd=tmp_path,
            env={**os.environ, "RP_SUPERVISE_BACKOFF": backoff},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def child_pids(self) -> list[int]:
        return [int(pid) for pid in STARTED.findall(self.text())]

    def wait_for_start(self, count: int) -> int:
        wait_until(lambda: len(self.child_pids()) >= count, what=f"start #{count}")
        return self.child_pids()[count - 1]

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=20)


@pytest.fixture
def supervise(tmp_path: Path) -> Iterator[Callable[..., Supervisor]]:
    started: list[Supervisor] = []

    def start(command: str, **kwargs: Any) -> Supervisor:
        started.append(Supervisor(tmp_path, command, **kwargs))
        return started[-1]

    yield start
    for supervisor in started:
        if supervisor.process.poll() is None:
            supervisor.stop()


def wait_until(check: Callable[[], Any], *, timeout: float = 20, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise TimeoutError(f"{what} not met after {timeout} s")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes (its parent has not reaped it yet)
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_supervise_restarts_a_child_killed_with_sigkill(supervise) -> None:  # type: ignore[no-untyped-def]
    # given a supervised long-running child
    supervisor = supervise("exec sleep 1000")
    first = supervisor.wait_for_start(1)
    # when someone kill -9s it
    os.kill(first, signal.SIGKILL)
    # then it comes back as a new process, and the log says what happened
    second = supervisor.wait_for_start(2)
    assert second != first and alive(second)
    assert "demo exited (signal KILL): restarting it in 0.2 s" in supervisor.text()
    assert supervisor.stop() == 0


def test_supervise_restarts_a_child_that_exits_with_an_error(supervise, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # given a child that fails once (say, kombu after a Redis restart), then runs
    supervisor = supervise("[ -e ran-once ] && exec sleep 1000; touch ran-once; exit 3")
    # when / then it is started again and stays up
    second = supervisor.wait_for_start(2)
    assert "demo exited (exit code 3): restarting it in 0.2 s" in supervisor.text()
    time.sleep(0.5)
    assert alive(second) and len(supervisor.child_pids()) == 2
    assert supervisor.stop() == 0


def test_supervise_gives_up_after_repeated_fast_crashes(supervise) -> None:  # type: ignore[no-untyped-def]
    # given a child that cannot start at all
    supervisor = supervise("exit 3", backoff="0.05")
    # when it has crashed five times within a minute
    returncode = supervisor.process.wait(timeout=20)
    # then the supervisor gives up, saying so, and does not start it a sixth time
    assert returncode == 1
    assert len(supervisor.child_pids()) == 5
    message = "demo exited (exit code 3), 5 times within 60 s: giving up on it"
    assert message in supervisor.text()
    assert message in supervisor.process.stderr.read()
    # and the back-off doubled between attempts
    assert "restarting it in 0.05 s" in supervisor.text()
    assert "restarting it in 0.4 s" in supervisor.text()


def test_supervise_stops_the_child_on_sigterm_and_does_not_restart_it(supervise) -> None:  # type: ignore[no-untyped-def]
    # given a supervised child that takes a moment to shut down
    supervisor = supervise("trap 'sleep 0.5; exit 0' TERM; while :; do sleep 0.1; done")
    child = supervisor.wait_for_start(1)
    # when the supervisor is asked to stop
    returncode = supervisor.stop()
    # then it returned only after the child had finished, and started nothing new
    assert returncode == 0
    assert not alive(child)
    time.sleep(0.5)
    assert supervisor.child_pids() == [child]
    assert "restarting" not in supervisor.text()
    assert "stopped demo" in supervisor.text()


def test_supervise_stop_during_the_back_off_starts_nothing(supervise) -> None:  # type: ignore[no-untyped-def]
    # given a child that just crashed, with a long back-off ahead
    supervisor = supervise("exit 3", backoff="30")
    supervisor.wait_for_start(1)
    wait_until(lambda: "restarting it in 30 s" in supervisor.text(), what="the crash")
    # when the supervisor is asked to stop
    began = time.monotonic()
    returncode = supervisor.stop()
    # then it stops at once, without the restart
    assert returncode == 0 and time.monotonic() - began < 5
    assert len(supervisor.child_pids()) == 1


def test_supervise_keeps_the_child_out_of_the_terminal_s_ctrl_c(supervise) -> None:  # type: ignore[no-untyped-def]
    # given a supervised child
    supervisor = supervise("exec sleep 1000")
    child = supervisor.wait_for_start(1)
    # then it leads its own session: a Ctrl-C (SIGINT to the terminal's process group) reaches
    # run.sh, which stops the supervisors, never the child first (which would be restarted)
    assert os.getsid(child) == child != os.getsid(supervisor.process.pid)
    # when the terminal's Ctrl-C reaches the supervisor's process group
    os.killpg(supervisor.process.pid, signal.SIGINT)
    # then the child is stopped, not restarted
    assert supervisor.process.wait(timeout=20) == 0
    assert not alive(child) and supervisor.child_pids() == [child]


def test_supervise_clears_what_a_killed_child_left_behind(supervise, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # given a child with a process of its own (as gunicorn's master has workers)
    supervisor = supervise("sleep 1000 & echo $! > helper.pid; exec sleep 1001")
    child = supervisor.wait_for_start(1)
    pid_file = tmp_path / "helper.pid"
    helper = int(wait_until(lambda: pid_file.exists() and pid_file.read_text().strip()))
    # when the child is killed
    os.kill(child, signal.SIGKILL)
    # then its helper goes too (it would hold the port the new one binds), and it comes back
    supervisor.wait_for_start(2)
    wait_until(lambda: not alive(helper), what="the helper gone")
    assert supervisor.stop() == 0


@pytest.fixture
def run_sh() -> Iterator[tuple[subprocess.Popen[str], Path, dict[str, int]]]:
    """scripts/run.sh as a developer starts it, on free ports and in a temporary folder (never
    the developer's .local/), in a process group of its own as a terminal would give it."""
    folder = Path(tempfile.mkdtemp(prefix="rp-run-"))
    folder.chmod(0o755)  # PostgreSQL runs as the postgres user
    ports = {name: free_port() for name in ("PG", "REDIS", "WEB", "SIM", "SIM_LOGIN")}
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "RP_LOCAL_DIR": str(folder / "local"),
        "WEB_CONCURRENCY": "1",
        **{f"RP_{name}_PORT": str(port) for name, port in ports.items()},
    }
    output = open(folder / "run.out", "w")  # noqa: SIM115 - closed at teardown
    process = subprocess.Popen(  # noqa: S603 - our own script
        ["bash", str(ROOT / "scripts" / "run.sh")],  # noqa: S607
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield process, folder, ports
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=60)
        output.close()
        shutil.rmtree(folder, ignore_errors=True)


def health_status(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=5) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@pytest.mark.worker
def test_run_sh_brings_a_killed_worker_back_and_stops_cleanly_on_ctrl_c(run_sh) -> None:  # type: ignore[no-untyped-def]
    # given the whole portal started by scripts/run.sh, healthy
    process, folder, ports = run_sh
    out = folder / "run.out"
    wait_until(lambda: "press Ctrl-C" in out.read_text(), timeout=180, what="run.sh up")
    assert health_status(ports["WEB"]) == 200, out.read_text()
    parts = {
        name: int(pid) for name, pid in re.findall(r"started (\w+) \(pid (\d+)\)", out.read_text())
    }
    assert set(parts) == {"simtenant", "web", "worker", "beat"}
    # when someone kill -9s the worker (and its last heartbeat is forgotten)
    os.kill(parts["worker"], signal.SIGKILL)
    redis.Redis(port=ports["REDIS"]).delete(health.HEARTBEAT_KEY)
    # then a new worker is started and /health/ is green again (a live worker's heartbeat)
    found = wait_until(lambda: re.findall(r"started worker \(pid (\d+)\)", out.read_text())[1:])
    assert int(found[0]) != parts["worker"]
    assert "worker exited (signal KILL): restarting it in 1 s" in out.read_text()
    wait_until(lambda: health_status(ports["WEB"]) == 200, timeout=60, what="/health/ green")
    # when the terminal's Ctrl-C reaches run.sh's process group
    os.killpg(process.pid, signal.SIGINT)
    # then everything stops, nothing is restarted, PostgreSQL and Redis are down
    assert process.wait(timeout=60) == 130
    text = out.read_text()
    assert text.count("restarting") == 1 and text.rstrip().endswith("stopped.")
    for pid in [*parts.values(), int(found[0])]:
        assert not alive(pid)
    assert not (folder / "local" / "pg" / "data" / "postmaster.pid").exists()
    assert health_status(ports["WEB"]) == 0

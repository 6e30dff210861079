"""The benchmarks that need running processes: the simulated tenant, gunicorn and a Celery
worker started as deployed (scripts/run.sh, docker-compose.yml), on free loopback ports, with
this process's environment (the throwaway PostgreSQL and Redis of scripts/bench.sh)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import ROOT, children, cpu_seconds, vm_hwm_kib

VENV_BIN = ROOT / ".venv" / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], bool], *, what: str, timeout: float, process: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}")
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {timeout} s")


class Proc:
    """One child process with its log file; stopped with SIGTERM (then SIGKILL) by its pid."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


class SimTenant:
    def __init__(self, *, log_dir: Path, env: dict[str, str]) -> None:
        graph_port, login_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{graph_port}"
        self.data_dir = log_dir / "simtenant"
        self.proc = Proc(
            "simtenant",
            [sys.executable, "-m", "simtenant", "--graph-port", str(graph_port),
             "--login-port", str(login_port), "--data-dir", str(self.data_dir), "--seed", "demo"],
            env=env,
            log_dir=log_dir,
        )  # fmt: skip
        cert = self.data_dir / "cert.pem"
        wait_for(
            lambda: cert.exists() and cert.stat().st_size > 0,
            what="the simulated tenant",
            timeout=30,
            process=self.proc.process,
        )
        self.env = {
            "GRAPH_CLOUD": "simulated",
            "SIMTENANT_URL": self.url,
            "SIMTENANT_LOGIN_URL": f"https://127.0.0.1:{login_port}",
            "SIMTENANT_CA_FILE": str(cert),
        }

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - our loopback simulator
            f"{self.url}{path}", data=data, method=method,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            raw = response.read()
        return json.loads(raw) if raw else None

    def requests(self) -> list[dict[str, Any]]:
        return self.call("GET", "/_sim/requests")["requests"]  # type: ignore[no-any-return]


class Stack:
    """simtenant + gunicorn (3 sync workers) + Celery worker (prefork, concurrency 2)."""

    def __init__(self, log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir = log_dir
        base = dict(os.environ)
        self.sim = SimTenant(log_dir=log_dir, env=base)
        self.env = {**base, **self.sim.env}
        self.web_port = free_port()
        self.web = Proc(
            "gunicorn",
            [str(VENV_BIN / "gunicorn"), "recovery_portal.wsgi:application",
             "--bind", f"127.0.0.1:{self.web_port}", "--workers", "3", "--timeout", "30"],
            env=self.env,
            log_dir=log_dir,
        )  # fmt: skip
        self.worker = self.start_worker()
        wait_for(self._web_answers, what="gunicorn", timeout=60, process=self.web.process)

    def start_worker(self) -> Proc:
        worker = Proc(
            "celery-worker",
            [str(VENV_BIN / "celery"), "-A", "recovery_portal", "worker", "--concurrency", "2",
             "--loglevel", "INFO", "-n", f"bench-{os.getpid()}@%h"],
            env=self.env,
            log_dir=self.log_dir,
        )  # fmt: skip
        wait_for(lambda: "ready." in worker.log(), what="the worker", timeout=90,
                 process=worker.process)  # fmt: skip
        return worker

    def _web_answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.web_port), timeout=1):
                return True
        except OSError:
            return False

    def peak_memory(self) -> dict[str, Any]:
        """VmHWM of every gunicorn worker and Celery process (KiB → MiB), while alive."""

        def mib(pids: list[int]) -> list[float]:
            return [round(k / 1024, 1) for p in pids if (k := vm_hwm_kib(p)) is not None]

        return {
            "gunicorn_master_mib": mib([self.web.pid]),
            "gunicorn_workers_mib": mib(children(self.web.pid)),
            "celery_main_mib": mib([self.worker.pid]),
            "celery_children_mib": mib(children(self.worker.pid)),
            "simtenant_mib": mib([self.sim.proc.pid]),
        }

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each part (process trees, reaped children included)."""
        tmp = Path(os.environ.get("RP_BENCH_TMP") or tempfile.gettempdir())
        found = {
            "gunicorn": cpu_seconds(self.web.pid),
            "celery": cpu_seconds(self.worker.pid),
            "simtenant": cpu_seconds(self.sim.proc.pid),
        }
        for name, pid_file in (("postgres", tmp / "pg" / "data" / "postmaster.pid"),
                               ("redis", tmp / "redis" / "redis.pid")):  # fmt: skip
            if pid_file.exists():
                found[name] = cpu_seconds(int(pid_file.read_text().split()[0]))
        return found

    def stop(self) -> None:
        for proc in (self.web, self.worker, self.sim.proc):
            proc.stop()


def run(results: Any, *, cast: Any, wanted: list[str]) -> None:
    from bench import approval, intake, throttle

    tmp = Path(os.environ.get("RP_BENCH_TMP") or tempfile.gettempdir()) / "services"
    stack = Stack(tmp)
    try:
        if "intake" in wanted:
            intake.run(results, stack=stack, cast=cast)
        if "approval" in wanted:
            approval.run(results, stack=stack, cast=cast)
        if "throttle" in wanted:
            throttle.run(results, stack=stack)
        memory = stack.peak_memory()
        results.add("peak_memory", memory)
        web = max(memory["gunicorn_workers_mib"] or [0])
        celery = max(memory["celery_main_mib"] + memory["celery_children_mib"] or [0])
        results.row(
            "peak RSS (VmHWM)",
            f"gunicorn worker {web} MiB (of {memory['gunicorn_workers_mib']}), Celery "
            f"{celery} MiB (main {memory['celery_main_mib']}, children "
            f"{memory['celery_children_mib']})",
        )
    finally:
        stack.stop()

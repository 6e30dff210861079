"""gunicorn as deployed: link tokens in query strings never reach its access log; each worker
records the recovery policy it serves with."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from audit.models import AuditEvent
from tests.fixtures_graph import _test_database_url, _wait_for

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_access_log_leaves_out_query_strings_and_referrers(tmp_path: Path) -> None:
    # given gunicorn started the way run.sh and the image start it (config read from the cwd)
    port = _free_port()
    log_path = tmp_path / "web.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "recovery_portal.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
            ],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        secret = "tok-" + os.urandom(12).hex()
        deadline = time.monotonic() + 30
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/not-me/?t={secret}",
                    headers={"Referer": f"http://127.0.0.1:{port}/x?t={secret}"},
                )
                with urllib.request.urlopen(request, timeout=5):  # noqa: S310 - loopback
                    pass
                break
            except urllib.error.HTTPError:
                break  # served (an unknown token is refused): what matters is the log line
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=15)
    # then the request is logged, its token is not
    text = log_path.read_text()
    assert '"GET /not-me/ HTTP/1.1"' in text
    assert secret not in text


def test_each_worker_records_the_recovery_policy_it_serves_with(
    transactional_db: None, settings: Any, tmp_path: Path
) -> None:
    # given gunicorn as deployed (two workers) on the test database, no policy recorded yet
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "RP_RECOVERY_POLICY": '{"privileged_cooling_off_minutes": 15}',
    }
    command = [str(Path(sys.executable).with_name("gunicorn")), "recovery_portal.wsgi:application"]
    command += ["--bind", f"127.0.0.1:{_free_port()}", "--workers", "2"]
    with (tmp_path / "web.log").open("wb") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        # when its workers have booted
        _wait_for(_web_policy_recorded, what="the web's policy record", timeout=60, process=server)
    finally:
        server.terminate()
        server.wait(timeout=15)
    # then the policy they serve with is on the record, once whatever the number of workers
    [event] = AuditEvent.objects.filter(action="config.changed", data__process="web")
    assert event.data["policy"]["privileged_cooling_off_minutes"] == 15


def _web_policy_recorded() -> bool:
    return AuditEvent.objects.filter(action="config.changed", data__process="web").exists()

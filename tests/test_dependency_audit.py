"""scripts/audit_deps.sh: `uv audit` over uv.lock, against a local OSV-compatible service.

The public OSV service is not reachable from here, so these tests stand one up on loopback that
speaks the two endpoints `uv audit` uses (POST /v1/querybatch, GET /v1/vulns/{id}), and check
what the script does with each answer: a known vulnerability fails the run, none passes it, an
unreachable service is reported as NOT CHECKED (and fails it when required).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "audit_deps.sh"
ADVISORY = "PYSEC-0000-RPTEST"


def locked_versions() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {p["name"]: p["version"] for p in lock["package"] if "version" in p}


class OsvService:
    """Answers like api.osv.dev: ``vulnerable`` names the packages with an advisory."""

    def __init__(self, vulnerable: set[str]) -> None:
        self.vulnerable = vulnerable
        self.queried: dict[str, str] = {}
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                asked = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                results = []
                for query in asked["queries"]:
                    name = query["package"]["name"]
                    service.queried[name] = query["version"]
                    hit = name in service.vulnerable
                    results.append(
                        {"vulns": [{"id": ADVISORY, "modified": "2026-11-01T00:00:00Z"}]}
                        if hit
                        else {}
                    )
                self._answer({"results": results})

            def do_GET(self) -> None:  # noqa: N802
                name = next(iter(service.vulnerable))
                self._answer(
                    {
                        "id": ADVISORY,
                        "modified": "2026-11-01T00:00:00Z",
                        "summary": "Test advisory: request smuggling in the test service",
                        "affected": [
                            {
                                "package": {"ecosystem": "PyPI", "name": name},
                                "ranges": [
                                    {
                                        "type": "ECOSYSTEM",
                                        "events": [{"introduced": "0"}, {"fixed": "999.0"}],
                                    }
                                ],
                            }
                        ],
                    }
                )

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def osv() -> Iterator[Any]:
    started: list[OsvService] = []

    def start(*vulnerable: str) -> OsvService:
        started.append(OsvService(set(vulnerable)))
        return started[-1]

    yield start
    for service in started:
        service.close()


def run_audit(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RP_VULN", "RP_AUDIT"))}
    return subprocess.run(
        ["bash", str(SCRIPT)],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_audit_fails_on_a_known_vulnerability_in_a_locked_package(osv: Any) -> None:
    # given: a service that knows an advisory against the locked Django
    service = osv("django")
    # when
    result = run_audit(RP_VULN_SERVICE_URL=service.url)
    # then: the run fails and names the package, its locked version and the advisory
    assert result.returncode == 1, result.stderr
    report = result.stdout + result.stderr
    assert f"django {locked_versions()['django']}" in report
    assert ADVISORY in report
    assert "dependency audit FAILED" in report


def test_audit_asks_about_every_locked_package_at_its_locked_version(osv: Any) -> None:
    # given: a service with no advisory
    service = osv()
    # when
    result = run_audit(RP_VULN_SERVICE_URL=service.url)
    # then: the run passes, and every package of uv.lock was asked about at its locked version
    assert result.returncode == 0, result.stderr
    assert "no known vulnerabilities" in result.stderr
    locked = locked_versions()
    locked.pop("recovery-portal", None)  # the project itself is not a published package
    assert service.queried == locked


def test_audit_ignores_only_the_advisories_it_is_told_to(osv: Any) -> None:
    # given: the advisory against Django, listed as ignored
    service = osv("django")
    # when
    result = run_audit(RP_VULN_SERVICE_URL=service.url, RP_VULN_IGNORE=ADVISORY)
    # then
    assert result.returncode == 0, result.stderr


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_audit_says_not_checked_when_the_service_cannot_be_reached() -> None:
    # when: nobody listens at the service's address
    result = run_audit(RP_VULN_SERVICE_URL=f"http://127.0.0.1:{unused_port()}")
    # then: the run goes on, but says loudly that nothing was verified
    assert result.returncode == 0, result.stderr
    assert "dependency audit NOT CHECKED" in result.stderr
    assert "nothing was verified" in result.stderr


def test_audit_fails_when_required_and_the_service_cannot_be_reached() -> None:
    # when
    result = run_audit(
        RP_VULN_SERVICE_URL=f"http://127.0.0.1:{unused_port()}", RP_AUDIT_REQUIRED="1"
    )
    # then
    assert result.returncode == 2
    assert "dependency audit FAILED: the vulnerability service could not be asked" in result.stderr

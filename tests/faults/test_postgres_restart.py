"""PostgreSQL restarts while agents work in the portal as deployed (gunicorn, persistent
connections): requests during the outage get a plain server error — the web processes stay up,
nothing is half-done — and the first requests after the restart work (CONN_HEALTH_CHECKS drops
the dead connections), with every ticket still there."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import sign_in
from tests.factories import TicketFactory
from tests.fixtures_graph import ROOT, _test_database_url, _wait_for, free_port
from tickets.models import Status, Ticket

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


class Browser:
    """A staff member's browser against gunicorn: cookies kept, CSRF token read from forms."""

    def __init__(self, base: str, session_id: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )
        self.headers = {"Cookie": f"sessionid={session_id}"}

    def request(self, path: str, data: dict[str, str] | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        headers = dict(self.headers)
        if data is not None:
            headers["Referer"] = self.base + path
        request = urllib.request.Request(self.base + path, data=body, headers=headers)  # noqa: S310
        try:
            with self.opener.open(request, timeout=20) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def csrf_from(self, html: str) -> str:
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        assert found, "no form on the page"
        token = found.group(1)
        csrf_cookie = next(c.value for c in self.jar if c.name == "csrftoken")
        self.headers["Cookie"] = f"{self.headers['Cookie'].split(';')[0]}; csrftoken={csrf_cookie}"
        return token


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@pytest.fixture
def gunicorn(transactional_db: None, settings: Any, tmp_path: Path) -> Iterator[str]:
    """The portal as deployed: gunicorn, two workers, persistent database connections."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DB_CONN_MAX_AGE": "60",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115 - closed at teardown
    process = subprocess.Popen(  # noqa: S603 - our own venv's gunicorn
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "recovery_portal.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--timeout",
            "30",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            urllib.request.urlopen(f"{base}/accounts/login/", timeout=2).close()  # noqa: S310
        except (OSError, urllib.error.URLError):
            return False
        return True

    try:
        _wait_for(answers, what="gunicorn", timeout=60, process=process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
    assert process.returncode == 0, (tmp_path / "gunicorn.log").read_text()[-3000:]


def test_postgres_restart_gives_plain_errors_then_the_portal_works_again(
    gunicorn, services, client
) -> None:  # type: ignore[no-untyped-def]
    # given an agent at work: the queue and a new case open in their browser
    from tests.tickets.casework import staff

    agent = staff("agent", ["helpdesk_agent"])
    ticket = TicketFactory(reference="RP-PG0001")
    sign_in(client, agent)
    browser = Browser(gunicorn, client.cookies["sessionid"].value)
    for _ in range(4):  # both gunicorn workers hold a database connection now
        assert browser.request("/staff/queue/")[0] == 200
    status, case_page = browser.request(f"/staff/tickets/{ticket.pk}/")
    assert status == 200
    token = browser.csrf_from(case_page)
    # when PostgreSQL stops
    services.stop_postgres()
    began = time.monotonic()
    during = [browser.request("/staff/queue/")[0] for _ in range(4)]
    claim_during = browser.request(
        f"/staff/tickets/{ticket.pk}/claim/", {"csrfmiddlewaretoken": token}
    )[0]
    try:  # a probe carries no session cookie
        urllib.request.urlopen(f"{gunicorn}/health/", timeout=20)  # noqa: S310
    except urllib.error.HTTPError as exc:
        health_status, health = exc.code, exc.read().decode()
    took = time.monotonic() - began
    # then every request got a server error quickly (no hang), the probe says the database is
    # down
    assert set(during) == {500} and claim_during == 500
    assert took < 30
    assert health_status == 503 and json.loads(health)["checks"]["database"]["ok"] is False
    assert "temporarily unavailable" in browser.request("/staff/queue/")[1]
    # when it comes back
    services.start_postgres()
    # then the very next requests work (dead connections dropped), and the claim goes through
    after = [browser.request("/staff/queue/")[0] for _ in range(4)]
    assert after == [200, 200, 200, 200]
    status, _ = browser.request(
        f"/staff/tickets/{ticket.pk}/claim/", {"csrfmiddlewaretoken": token}
    )
    assert status == 302
    ticket = Ticket.objects.get(reference="RP-PG0001")
    assert ticket.status == Status.IN_VERIFICATION and ticket.assigned_to_id == agent.pk


def _get(url: str, cookie: str) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers={"Cookie": cookie})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode(errors="replace")


def test_health_with_a_session_cookie_reports_the_database_down_while_postgres_is_stopped(
    gunicorn, services, client, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    # given a signed-in agent whose browser (session and CSRF cookies) opens /health/
    from django.contrib.sessions.models import Session

    from tests.tickets.casework import staff

    agent = staff("agent", ["helpdesk_agent"])
    sign_in(client, agent)
    session_key = client.cookies["sessionid"].value
    session_cookie = f"sessionid={session_key}; csrftoken={'x' * 32}"
    cookie = f"{session_cookie}; django_language=it"
    assert _get(f"{gunicorn}/staff/queue/", session_cookie)[0] == 200
    before = Session.objects.values("session_data", "expire_date").get(session_key=session_key)
    # when PostgreSQL stops
    services.stop_postgres()
    status, headers, body = _get(f"{gunicorn}/health/", cookie)
    page_status, _, page = _get(f"{gunicorn}/staff/queue/", session_cookie)
    services.start_postgres()
    # then the probe answers 503 naming the database, and sets no cookie (nothing written)
    log = (tmp_path / "gunicorn.log").read_text()[-3000:]
    assert status == 503, f"{status} {body[:300]}\n{log}"
    assert headers["Content-Type"] == "application/json"
    checks = json.loads(body)["checks"]
    assert checks["database"] == {"ok": False, "detail": "OperationalError"}
    assert checks["redis"]["ok"] is True
    assert "Set-Cookie" not in headers
    # and a normal page still gets the plain "temporarily unavailable" server error
    assert page_status == 500 and "temporarily unavailable" in page
    # and the session is untouched once the database is back
    after = Session.objects.values("session_data", "expire_date").get(session_key=session_key)
    assert after == before

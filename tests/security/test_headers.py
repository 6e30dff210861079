"""Every page carries the security headers and a strict CSP; cookies carry their flags."""

from __future__ import annotations

import pytest

from tests.conftest import sign_in
from tests.security.test_authorization_matrix import MATRIX
from tests.security.urlmatrix import ROLES, fill, routes

pytestmark = pytest.mark.django_db

PAGES = ["/", "/accounts/login/", "/health/", "/staff/queue/"]


def csp_directives(header: str) -> dict[str, list[str]]:
    parts = [p.strip().split() for p in header.split(";") if p.strip()]
    return {p[0]: p[1:] for p in parts}


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_a_strict_csp_and_security_headers(client, path: str) -> None:  # type: ignore[no-untyped-def]
    # when
    response = client.get(path)
    # then
    csp = csp_directives(response["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"], "no inline or remote script"
    assert "'unsafe-inline'" not in csp["style-src"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def _assert_strict_headers(response) -> None:  # type: ignore[no-untyped-def]
    csp = csp_directives(response["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in csp["style-src"] and "'unsafe-eval'" not in csp["script-src"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def _readers() -> list[tuple[str, str]]:
    """Every GET route of the authorization matrix with someone who may read it (200)."""
    pairs = []
    for (name, method), cells in MATRIX.items():
        if method == "GET" and 200 in cells:
            pairs.append((name, ROLES[cells.index(200)]))
    return pairs


@pytest.mark.parametrize(("name", "role"), _readers())
def test_every_page_of_the_matrix_sends_strict_headers(client, cast, name: str, role: str) -> None:  # type: ignore[no-untyped-def]
    # when the page is opened by someone who may read it
    person = cast["people"][role]
    if person is not None:
        sign_in(client, person)
    pattern = next(p for n, p, _ in routes() if n == name)
    url = fill(pattern, cast["case"])
    if name == "manager_confirm":
        url += f"?t={cast['case']['token']}"
    response = client.get(url)
    # then
    assert response.status_code == 200
    _assert_strict_headers(response)


@pytest.mark.parametrize("path", ["/staff/queue/", "/nowhere/", "/staff/tickets/999999/"])
def test_error_pages_send_strict_headers_too(client, agent, path: str) -> None:  # type: ignore[no-untyped-def]
    sign_in(client, agent)
    response = client.get(path)
    assert response.status_code in (200, 404)
    _assert_strict_headers(response)


def test_pages_with_secrets_are_not_cached(client, cast) -> None:  # type: ignore[no-untyped-def]
    # the manager's confirmation page (opened from the mailed link) must not stay in a cache
    sign_in(client, cast["people"]["manager"])
    response = client.get(f"/staff/manager/?t={cast['case']['token']}")
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_staff_session_and_csrf_cookies_are_http_only_and_same_site(client, agent) -> None:  # type: ignore[no-untyped-def]
    # when the agent signs in with their password
    client.get("/accounts/login/")
    response = client.post(
        "/accounts/login/", {"login": "agent", "password": "correct-horse-battery-staple-42"}
    )
    # then
    assert response.status_code == 302
    session = client.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"
    csrf = client.cookies["csrftoken"]
    assert csrf["httponly"] and csrf["samesite"] == "Lax"


def test_cookies_are_secure_when_https_is_on(settings, client) -> None:  # type: ignore[no-untyped-def]
    # given production-style HTTPS settings
    settings.CSRF_COOKIE_SECURE = True
    settings.SESSION_COOKIE_SECURE = True
    # when
    client.get("/accounts/login/", secure=True)
    # then
    assert client.cookies["csrftoken"]["secure"]


def test_templates_contain_no_inline_script_or_style() -> None:
    """CSP forbids them; a template that adds one would break silently in the browser."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "templates"
    offenders = []
    for path in root.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", text):
            offenders.append(f"{path.relative_to(root)}: {match.group(0)}")
        if re.search(r"\sstyle=\"", text) or re.search(r"<style[\s>]", text):
            offenders.append(f"{path.relative_to(root)}: inline style")
        if re.search(r"\son[a-z]+=\"", text):
            offenders.append(f"{path.relative_to(root)}: inline event handler")
    assert offenders == []

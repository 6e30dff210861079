"""Rate limits, claim-code throttling, no account enumeration, and filing with Redis down."""

from __future__ import annotations

import re
import statistics
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from graphops.models import GraphOperation, OpStatus
from tickets.models import DirectoryState, Ticket

pytestmark = pytest.mark.django_db

DEAD_REDIS = "redis://127.0.0.1:9/0"  # the discard port: nothing listens there
# The cache (rate-limit counters, grants) pointed at DEAD_REDIS, failing within a second.
DEAD_CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": DEAD_REDIS,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}


def form(upn: str) -> dict[str, object]:
    return {
        "full_name": "Someone",
        "upn": upn,
        "department": "Sales",
        "urgency": "normal",
        "alternate_phone": "+33 6 12 34 56 78",
        "what_happened": "broken",
        "backup_enabled": "no",
        "preferred_verification": "in_person",
    }


def submit(client, upn: str, ip: str = "198.51.100.7"):  # type: ignore[no-untyped-def]
    return client.post(reverse("public_request_submit"), form(upn), REMOTE_ADDR=ip)


def check(client, reference: str, code: str, ip: str = "198.51.100.7"):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("public_status_check"), {"reference": reference, "claim_code": code}, REMOTE_ADDR=ip
    )


def receipt(response) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    html = response.content.decode()
    reference = re.search(r'id="reference">([^<]+)<', html).group(1)  # type: ignore[union-attr]
    code = re.search(r'id="claim-code">([^<]+)<', html).group(1)  # type: ignore[union-attr]
    return reference, code


def page_shape(response) -> str:  # type: ignore[no-untyped-def]
    """The page without what differs on every answer: CSRF token, reference and code."""
    html = response.content.decode()
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)
    html = re.sub(r'id="reference">[^<]+<', "", html)
    return re.sub(r'id="claim-code">[^<]+<', "", html)


# --- Rate limits ---------------------------------------------------------------------------


def test_request_submit_is_rate_limited_per_ip(client, settings) -> None:  # type: ignore[no-untyped-def]
    # given at most two requests an hour from one address
    settings.RP_INTAKE_RATE_PER_IP = "2/h"
    # when a third arrives from there, for yet another account
    assert submit(client, "a@contoso.example").status_code == 200
    assert submit(client, "b@contoso.example").status_code == 200
    third = submit(client, "c@contoso.example")
    # then it is refused with a clear message, while another address may still file
    assert third.status_code == 429
    assert "Too many requests" in third.content.decode()
    assert submit(client, "c@contoso.example", ip="203.0.113.9").status_code == 200
    assert Ticket.objects.count() == 3


def test_request_submit_is_rate_limited_per_upn(client, settings) -> None:  # type: ignore[no-untyped-def]
    # given at most two requests a day for one account
    settings.RP_INTAKE_RATE_PER_UPN = "2/d"
    # when a third arrives for it, even from another address and written differently
    assert submit(client, "x@contoso.example", ip="198.51.100.1").status_code == 200
    assert submit(client, "x@contoso.example", ip="198.51.100.2").status_code == 200
    third = submit(client, "X@Contoso.Example", ip="198.51.100.3")
    # then it is refused, and another account is unaffected
    assert third.status_code == 429
    assert submit(client, "y@contoso.example", ip="198.51.100.3").status_code == 200
    assert Ticket.objects.filter(upn="x@contoso.example").count() == 2


def test_invalid_requests_do_not_use_up_the_limit(client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.RP_INTAKE_RATE_PER_IP = "1/h"
    for _ in range(3):
        assert submit(client, "not-an-address").status_code == 400
    assert submit(client, "a@contoso.example").status_code == 200


def test_status_check_is_throttled_per_reference(client, settings) -> None:  # type: ignore[no-untyped-def]
    # given a request and at most three attempts an hour on its reference
    settings.RP_STATUS_RATE_PER_REFERENCE = "3/h"
    reference, code = receipt(submit(client, "a@contoso.example"))
    # when three wrong codes come from three addresses
    for i in range(3):
        assert check(client, reference, "ABCD-EFGH-JKMN-PQRS", ip=f"192.0.2.{i}").status_code == 400
    # then even the right code is refused for now, and nothing is granted
    refused = check(client, reference, code, ip="192.0.2.99")
    assert refused.status_code == 429
    assert "Too many attempts" in refused.content.decode()
    assert client.get(reverse("public_status_case")).status_code == 302


def test_status_check_is_throttled_per_ip(client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.RP_STATUS_RATE_PER_IP = "3/h"
    reference, code = receipt(submit(client, "a@contoso.example"))
    for guess in ("RP-AAAA-AAAA", "RP-BBBB-BBBB", "RP-CCCC-CCCC"):
        check(client, guess, code)
    assert check(client, reference, code).status_code == 429
    assert check(client, reference, code, ip="192.0.2.200").status_code == 302


# --- Redis unreachable ---------------------------------------------------------------------


@pytest.fixture
def redis_down(settings):  # type: ignore[no-untyped-def]
    """Cache and Celery broker pointed at a port where nothing answers."""
    from recovery_portal.celery import app

    settings.CACHES = DEAD_CACHES
    # Fresh pools for the dead address; the live ones are put back untouched afterwards (kombu
    # keeps them in process-wide registries that other tests' workers go on using).
    saved = app.conf.broker_url, app._pool, app.amqp._producer_pool
    app.conf.broker_url = DEAD_REDIS
    app._pool = None
    app.amqp._producer_pool = None
    yield
    app.conf.broker_url, app._pool, app.amqp._producer_pool = saved


def test_request_is_filed_when_redis_is_unreachable(
    client, redis_down, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    # when a request arrives while neither the cache nor the broker answers
    with django_capture_on_commit_callbacks(execute=True):
        response = submit(client, "mario.rossi@contoso.example")
    # then it is filed all the same; the lookup waits as a PENDING row for the sweep to resend
    assert response.status_code == 200
    reference, _code = receipt(response)
    ticket = Ticket.objects.get(reference=reference)
    assert ticket.directory_state == DirectoryState.PENDING
    assert GraphOperation.objects.get(correlation=reference).status == OpStatus.PENDING


# --- No account enumeration ----------------------------------------------------------------

# Accounts of the simulated tenant's demo directory, and addresses nobody has.
EXISTING = ["mario.rossi", "giulia.bianchi", "sofia.garcia", "pierre.martin"]
MISSING = ["nobody.here", "ghost.user", "no.such", "made.up"]


def test_request_answer_is_the_same_whether_or_not_the_account_exists(client, settings) -> None:  # type: ignore[no-untyped-def]
    # given generous limits, so that only the account makes a difference
    settings.RP_INTAKE_RATE_PER_IP = "1000/h"
    shapes: dict[str, set[str]] = {"existing": set(), "missing": set()}
    queries: dict[str, set[int]] = {"existing": set(), "missing": set()}
    # when requests are sent for accounts that exist and accounts that do not
    for kind, logins in (("existing", EXISTING), ("missing", MISSING)):
        for login in logins:
            with CaptureQueriesContext(connection) as captured:
                response = submit(client, f"{login}@contoso.example")
            assert response.status_code == 200
            shapes[kind].add(page_shape(response))
            queries[kind].add(len(captured.captured_queries))
    # then every answer is the same page, made with the same database work
    assert len(shapes["existing"] | shapes["missing"]) == 1
    assert len(queries["existing"] | queries["missing"]) == 1


def test_request_answer_takes_the_same_time_whether_or_not_the_account_exists(
    client, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.RP_INTAKE_RATE_PER_IP = "1000/h"
    timings: dict[str, list[float]] = {"existing": [], "missing": []}
    for round_ in range(5):
        for kind, logins in (("existing", EXISTING), ("missing", MISSING)):
            for login in logins:
                start = time.perf_counter()
                submit(client, f"{login}.{round_}@contoso.example")
                timings[kind].append(time.perf_counter() - start)
    existing, missing = (statistics.median(timings[k]) for k in ("existing", "missing"))
    # within reason: the medians differ by less than 30 % (or 20 ms on a slow machine)
    assert abs(existing - missing) < max(0.3 * min(existing, missing), 0.02)

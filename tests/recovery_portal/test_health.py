from __future__ import annotations

import time

import pytest
import redis
from django.conf import settings

from recovery_portal import health

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_heartbeat():  # type: ignore[no-untyped-def]
    r = redis.Redis.from_url(settings.REDIS_URL)
    r.delete(health.HEARTBEAT_KEY)
    yield
    r.delete(health.HEARTBEAT_KEY)


def test_health_reports_the_worker_down_without_a_heartbeat(client) -> None:  # type: ignore[no-untyped-def]
    # when
    response = client.get("/health/")
    # then
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["worker"] == {"ok": False, "detail": "no heartbeat yet"}


def test_health_is_ok_with_a_fresh_heartbeat(client) -> None:  # type: ignore[no-untyped-def]
    # given
    health.record_worker_heartbeat()
    # when
    response = client.get("/health/")
    # then
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_health_reports_a_stale_heartbeat(client) -> None:  # type: ignore[no-untyped-def]
    # given a heartbeat older than the allowed age
    r = redis.Redis.from_url(settings.REDIS_URL)
    r.set(health.HEARTBEAT_KEY, str(time.time() - settings.WORKER_HEARTBEAT_MAX_AGE - 5))
    # when
    response = client.get("/health/")
    # then
    assert response.status_code == 503
    assert "s ago" in response.json()["checks"]["worker"]["detail"]


def test_health_rejects_post(client) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/health/").status_code == 405

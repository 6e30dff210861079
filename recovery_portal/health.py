"""Liveness facts for probes: database, Redis and the Celery worker's last heartbeat."""

from __future__ import annotations

import time
from typing import TypedDict

import redis
from django.conf import settings
from django.db import connection

HEARTBEAT_KEY = "rp:worker:heartbeat"


class Check(TypedDict):
    ok: bool
    detail: str


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)


def record_worker_heartbeat() -> None:
    _redis().set(HEARTBEAT_KEY, str(time.time()), ex=settings.WORKER_HEARTBEAT_MAX_AGE * 10)


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver failure means "down" to a probe
        return {"ok": False, "detail": type(exc).__name__}
    return {"ok": True, "detail": "reachable"}


def check_redis() -> Check:
    try:
        _redis().ping()
    except Exception as exc:  # any client failure means "down" to a probe
        return {"ok": False, "detail": type(exc).__name__}
    return {"ok": True, "detail": "reachable"}


def check_worker() -> Check:
    try:
        raw = _redis().get(HEARTBEAT_KEY)
    except Exception as exc:  # broker down: the worker cannot be known alive
        return {"ok": False, "detail": f"unknown ({type(exc).__name__})"}
    if raw is None:
        return {"ok": False, "detail": "no heartbeat yet"}
    age = time.time() - float(raw)
    if age > settings.WORKER_HEARTBEAT_MAX_AGE:
        return {"ok": False, "detail": f"last heartbeat {int(age)} s ago"}
    return {"ok": True, "detail": f"last heartbeat {int(age)} s ago"}


def report() -> dict[str, Check]:
    return {"database": check_database(), "redis": check_redis(), "worker": check_worker()}

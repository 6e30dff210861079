"""Load generator for the public intake, run as its own process (no Django in here).

``python -m bench.loadgen --url http://127.0.0.1:PORT --count N --duration S --out FILE
[--concurrency C] [--rate R]``

Each submission is what a browser does: GET the request form (CSRF cookie and token), then POST
the filled-in form, each time as a new visitor with a new account. Closed loop (``--rate 0``):
C virtual users submit back to back. Open loop (``--rate R``): submissions start at R per
second whatever the server does, latency counted from the planned start (a slow server is not
let off by a generator that waits for it). Loopback only; bounded by count and by time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import re
import sys
import threading
import time
from urllib.parse import urlencode, urlsplit

_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_COOKIE = re.compile(r"csrftoken=([^;]+)")


def _form(number: int, token: str) -> str:
    fields = [
        ("csrfmiddlewaretoken", token),
        ("full_name", f"Load Test {number}"),
        ("upn", f"load{number:07d}@contoso.example"),
        ("department", "Finance"),
        ("urgency", "high"),
        ("blocked_work", "Payroll run due today"),
        ("alternate_phone", "+39 333 123 4567"),
        ("alternate_email", f"load{number}@example.org"),
        ("what_happened", "lost"),
        ("methods_still_working", "none"),
        ("backup_enabled", "no"),
        ("preferred_verification", "video"),
        ("details", "Lost my phone on the train this morning."),
        ("website", ""),
    ]
    return urlencode(fields)


class Generator:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit("the load generator only talks to loopback")
        self.host, self.port = parts.hostname, parts.port or 80
        self.lock = threading.Lock()
        self.results: list[dict[str, float | int]] = []

    def _request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], str, float]:
        started = time.perf_counter()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            found = {k.lower(): v for k, v in response.getheaders() if k.lower() != "set-cookie"}
            found["set-cookie"] = "; ".join(response.headers.get_all("Set-Cookie") or [])
            return response.status, found, text, time.perf_counter() - started
        finally:
            conn.close()

    def submit(self, number: int, planned: float) -> None:
        began = time.perf_counter()
        record: dict[str, float | int] = {"n": number, "queued_s": began - planned}
        try:
            status, headers, text, get_s = self._request(
                "GET", "/request/", headers={"Host": self.host}
            )
            token = _TOKEN.search(text)
            cookie = _COOKIE.search(headers["set-cookie"])
            record.update(get_status=status, get_s=get_s)
            if status != 200 or not token or not cookie:
                record["error"] = 1
            else:
                status, _, _, post_s = self._request(
                    "POST",
                    "/request/send/",
                    body=_form(number, token.group(1)),
                    headers={
                        "Host": self.host,
                        "Cookie": f"csrftoken={cookie.group(1)}",
                        "Content-Type": "application/x-www-form-urlencoded",
                    },
                )
                record.update(post_status=status, post_s=post_s)
        except OSError as exc:
            record["error"] = 1
            record["exception"] = repr(exc)  # type: ignore[assignment]
        record["total_s"] = time.perf_counter() - planned
        record["done_at"] = time.time()
        with self.lock:
            self.results.append(record)


def run(args: argparse.Namespace) -> dict[str, object]:
    gen = Generator(args.url)
    jobs: queue.Queue[tuple[int, float] | None] = queue.Queue()
    deadline = time.perf_counter() + args.duration

    def worker() -> None:
        while (job := jobs.get()) is not None:
            if time.perf_counter() < deadline:
                gen.submit(job[0], job[1])

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.concurrency)]
    for thread in threads:
        thread.start()
    started_wall, started = time.time(), time.perf_counter()
    if args.rate > 0:  # open loop: the plan does not wait for the server
        for i in range(args.count):
            planned = started + i / args.rate
            if planned > deadline:
                break
            time.sleep(max(0.0, planned - time.perf_counter()))
            jobs.put((args.first + i, planned))
    else:  # closed loop: each virtual user starts its next submission when one ends
        for i in range(args.count):
            jobs.put((args.first + i, 0.0))
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join(timeout=max(1.0, deadline - time.perf_counter() + 35))
    elapsed = time.perf_counter() - started
    with gen.lock:
        results = list(gen.results)
    if args.rate <= 0:  # closed loop: latency is the submission's own time
        for r in results:
            r["total_s"] = float(r.get("get_s", 0)) + float(r.get("post_s", 0))
    return {"started": started_wall, "elapsed_s": elapsed, "results": results}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True, help="stop after S seconds")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=float, default=0.0, help="submissions/s (0: closed)")
    parser.add_argument("--first", type=int, default=0, help="number of the first account")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    found = run(args)
    with open(args.out, "w") as out:
        json.dump(found, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

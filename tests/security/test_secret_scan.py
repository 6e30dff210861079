"""One whole real case, then a scan of everything the system wrote for that case's secrets.

The case: the public intake (claim code shown once), the directory lookup by a real Celery
worker (which mails the account holder and the manager their "this wasn't me" links), the
agent's verification (the worker mails the manager their confirmation link), the manager's decision
through that link, a second person's approval, the worker issuing the TAP on the simulated
tenant, the one reveal, then "this wasn't me" from the account holder after execution (the
worker contains: the pass deleted, sessions revoked).

The secrets: the TAP, the claim code, both "this wasn't me" tokens and the manager-link token.
The stores: every log record of this process (all loggers at DEBUG, the SIEM lines too), the
worker's output, every mail (this process's outbox and the worker's file backend), the
auditor's CSV and JSON exports, every text/json/bytea column of every table, every key and
value in every Redis database in use, and every file under RP_LOCAL_DIR. Each secret is looked
for as shown, URL-encoded, HTML/JSON-escaped, hex, base64 (at every alignment) and in any case.
A secret may appear only where its holder receives it: the mail to its recipient and the page
that answers that recipient — nowhere else.
"""

from __future__ import annotations

import base64
import email
import hashlib
import html
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import pytest
import redis
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse

from graphops.models import GraphOperation, Kind, OpStatus
from tests.conftest import sign_in
from tests.fixtures_graph import Worker
from tests.tickets.casework import make_manager, reauthenticated, staff
from tests.tickets.test_public_secrets import FORM, UPN
from tickets.models import NotMeLink, Status, TapChannel, Ticket

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

MANAGER_UPN = "giulia.bianchi@contoso.example"
TEXT_TYPES = ("text", "character varying", "character", "json", "jsonb", "ARRAY", "bytea")


# --- The scanner -----------------------------------------------------------------------------


def encodings(secret: str) -> set[str]:
    """The forms a secret could be written in, lower-cased (the scan ignores case)."""
    raw = secret.encode()
    forms = {
        secret,
        secret.replace("-", ""),
        quote(secret, safe=""),
        quote_plus(secret),
        html.escape(secret),
        json.dumps(secret)[1:-1],
        raw.hex(),
    }
    # base64 of the value, wherever it starts in a longer encoded stream: the part of the
    # value that begins on a 3-byte boundary encodes to the same characters every time.
    for skip in range(3):
        part = raw[skip:]
        part = part[: len(part) // 3 * 3]
        forms.add(base64.b64encode(part).decode())
        forms.add(base64.urlsafe_b64encode(part).decode())
    return {f.lower() for f in forms if len(f) >= min(8, len(secret))}


@dataclass
class Scan:
    """Named texts ("places") and the secrets to look for in them."""

    secrets: dict[str, str]
    places: dict[str, str] = field(default_factory=dict)

    def add(self, place: str, text: str | bytes) -> None:
        if isinstance(text, bytes | memoryview):
            text = bytes(text).decode("latin-1")
        self.places[place] = self.places.get(place, "") + "\n" + text

    def hits(self) -> dict[str, set[str]]:
        forms = {name: encodings(value) for name, value in self.secrets.items()}
        found: dict[str, set[str]] = {name: set() for name in self.secrets}
        for place, text in self.places.items():
            lowered = text.lower()
            for name, variants in forms.items():
                if any(v in lowered for v in variants):
                    found[name].add(place)
        return found


def scan_log_records(scan: Scan, caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        line = caplog.handler.format(record)
        scan.add(f"log:{record.name}", f"{line}\n{record.args!r}\n{record.__dict__!r}")


def scan_worker_output(scan: Scan, worker: Worker) -> None:
    for path in sorted(worker.log_dir.glob("worker-*.log")):
        scan.add(f"worker output:{path.name}", path.read_bytes())


def mails_in(directory: Path) -> Iterator[tuple[bytes, Message]]:
    """The messages Django's file backend wrote (as written, and parsed): one file per
    connection, 79 dashes between messages."""
    for path in sorted(directory.glob("*")):
        for chunk in re.split(rb"\n-{79}\n", path.read_bytes()):
            if chunk.strip():
                yield chunk, email.message_from_bytes(chunk)


def mail_text(message: Message) -> str:
    parts = [f"{k}: {v}" for k, v in message.items()]
    for part in message.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            parts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(parts)


def scan_mails(scan: Scan, worker_mail_dir: Path) -> dict[str, str]:
    """Every mail, one place each; returns {place: recipient(s)}."""
    recipients: dict[str, str] = {}
    for i, sent in enumerate(mail.outbox):
        place = f"mail[portal #{i}] to {','.join(sent.to)}: {sent.subject}"
        scan.add(place, sent.message().as_bytes())
        scan.add(place, mail_text(sent.message()))
        recipients[place] = ",".join(sent.to)
    for i, (raw, message) in enumerate(mails_in(worker_mail_dir)):
        place = f"mail[worker #{i}] to {message['To']}: {message['Subject']}"
        scan.add(place, raw)
        scan.add(place, mail_text(message))
        recipients[place] = str(message["To"])
    return recipients


def scan_database(scan: Scan) -> int:
    """Every text, varchar, json, jsonb, array and bytea column of every public table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'public' AND data_type = ANY(%s)"
            " ORDER BY table_name, ordinal_position",
            [list(TEXT_TYPES)],
        )
        columns = cursor.fetchall()
        for table, column, data_type in columns:
            as_text = "" if data_type == "bytea" else "::text"
            cursor.execute(f'SELECT "{column}"{as_text} FROM "{table}"')  # noqa: S608 - names from the catalogue
            for (value,) in cursor.fetchall():
                if value is not None:
                    scan.add(f"db:{table}.{column}", value)
    return len(columns)


def redis_databases(client: redis.Redis) -> list[int]:
    used = [int(name[2:]) for name in client.info("keyspace") if name.startswith("db")]
    return sorted(set(used) | {client.connection_pool.connection_kwargs.get("db", 0)})


def scan_redis(scan: Scan) -> int:
    """Every key, and every value or member, of every Redis database holding keys."""
    keys = 0
    base = redis.Redis.from_url(settings.REDIS_URL)
    for db in redis_databases(base):
        client = redis.Redis.from_url(settings.REDIS_URL, db=db)
        for key in client.scan_iter(count=500):
            keys += 1
            kind = client.type(key).decode()
            values: list[Any]
            if kind == "string":
                values = [client.get(key)]
            elif kind == "list":
                values = client.lrange(key, 0, -1)
            elif kind == "hash":
                values = [x for pair in client.hgetall(key).items() for x in pair]
            elif kind == "set":
                values = list(client.smembers(key))
            elif kind == "zset":
                values = [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
            elif kind == "stream":
                values = [repr(entry) for entry in client.xrange(key)]
            else:
                values = []
            place = f"redis db{db}:{key.decode('latin-1')}"
            scan.add(place, key)
            for value in values:
                if value is not None:
                    scan.add(place, value if isinstance(value, bytes) else str(value))
    return keys


def scan_local_files(scan: Scan) -> None:
    """Files the portal keeps on disk (RP_LOCAL_DIR)."""
    for path in Path(settings.LOCAL_DIR).rglob("*"):
        if path.is_file() and path.stat().st_size < 20_000_000:
            scan.add(f"file:{path}", path.read_bytes())


class RedisMonitor:
    """Every command any client sends to Redis while the case runs (Redis' MONITOR), as Redis
    prints it: what was written and then deleted again — a broker message the worker consumed,
    a cache entry that expired — is seen too."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.lines: list[bytes] = []
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)

    def _listen(self) -> None:
        try:
            # No read timeout (redis-py's default is 5 s): a case may be quiet at Redis for
            # longer than that, and stop() sends one more command to wake this reader.
            with redis.Redis.from_url(self.url, socket_timeout=None).monitor() as monitor:
                self._ready.set()
                while not self._stop.is_set():
                    self.lines.append(monitor.connection.read_response(disable_decoding=True))
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc
            self._ready.set()

    def start(self) -> RedisMonitor:
        self._thread.start()
        assert self._ready.wait(10) and self.error is None, self.error
        return self

    def stop(self) -> list[bytes]:
        if self._thread.is_alive():
            self._stop.set()
            redis.Redis.from_url(self.url).ping()  # one more line wakes the listener
            self._thread.join(10)
        assert self.error is None, self.error
        return self.lines


# --- The case, driven through the pages ----------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_broker_pools() -> None:
    """Fresh kombu pools in this process (see tests/tickets/test_workflow_worker.py)."""
    from recovery_portal.celery import app

    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def all_log_records(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog at DEBUG on every logger, those that do not propagate (audit.siem) included."""
    quiet = [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    for logger in quiet:
        logger.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    yield caplog
    for logger in quiet:
        logger.removeHandler(caplog.handler)


@pytest.fixture
def redis_monitor() -> Iterator[RedisMonitor]:
    monitor = RedisMonitor(settings.REDIS_URL).start()
    yield monitor
    monitor.stop()


@pytest.fixture
def worker_mail_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The worker's mails go to files here (the test process keeps its locmem outbox)."""
    directory = tmp_path / "worker-mail"
    directory.mkdir()
    monkeypatch.setenv("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
    monkeypatch.setenv("EMAIL_FILE_PATH", str(directory))
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    return directory


@pytest.fixture
def mailing_worker(worker_mail_dir: Path, request: pytest.FixtureRequest) -> Worker:
    """The real worker, started only after its environment says where its mails go."""
    return request.getfixturevalue("celery_worker")  # type: ignore[no-any-return]


def wait_until(check: Any, *, what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.2)
    raise TimeoutError(f"still waiting for {what}")


class Pages:
    """Every page the people of the case were shown, by name."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def keep(self, name: str, response: Any) -> Any:
        body = (
            b"".join(response.streaming_content) if response.streaming else response.content
        ).decode("utf-8", "replace")
        headers = "\n".join(f"{key}: {value}" for key, value in response.items())
        self.seen[name] = f"{headers}\n{response.cookies}\n{body}"
        return response


def signed_in(user: Any) -> Client:
    client = Client()
    sign_in(client, user)
    return client


def not_me_token(mails: list[tuple[bytes, Message]], to: str) -> str:
    [body] = [mail_text(m) for _, m in mails if m["To"] == to and "/not-me/?t=" in mail_text(m)]
    link = re.search(r"https?://\S+/not-me/\?t=\S+", body).group(0)  # type: ignore[union-attr]
    return parse_qs(urlsplit(link).query)["t"][0]


def manager_link(worker_mail_dir: Path) -> str:
    """The link in the worker's mail to the manager (waiting for the worker to send it)."""
    [body] = wait_until(
        lambda: [
            text
            for _, m in mails_in(worker_mail_dir)
            if m["To"] == MANAGER_UPN and "/staff/manager/" in (text := mail_text(m))
        ],
        what="the worker's mail of the manager link",
    )
    link = re.search(r"https?://\S+/staff/manager/\?t=\S+", body).group(0)  # type: ignore[union-attr]
    return link


def file_a_request(pages: Pages, requester: Client) -> tuple[Ticket, str]:
    response = pages.keep("intake", requester.post(reverse("public_request_submit"), FORM))
    reference = re.search(r'id="reference">([^<]+)<', pages.seen["intake"]).group(1)  # type: ignore[union-attr]
    code = re.search(r'id="claim-code">([^<]+)<', pages.seen["intake"]).group(1)  # type: ignore[union-attr]
    assert response.status_code == 200
    return Ticket.objects.get(reference=reference), html.unescape(code)


def agent_verifies(pages: Pages, ticket: Ticket, agent: Any, marker: str) -> None:
    client = signed_in(agent)
    client.post(reverse("staff_claim", args=[ticket.pk]))
    page = pages.keep("verify form", client.get(reverse("staff_verify", args=[ticket.pk])))
    form = page.context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None and v is not False}
    data.update(
        method="in_person",
        evidence=f"Came to the desk; badge photo and face match; note {marker}.",
        tap_channel=TapChannel.REQUESTER,
    )
    response = client.post(reverse("staff_verify_submit", args=[ticket.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    pages.keep("case page (agent)", client.get(reverse("staff_ticket", args=[ticket.pk])))


def manager_confirms(pages: Pages, manager: Any, worker_mail_dir: Path) -> None:
    client = signed_in(manager)
    link = urlsplit(manager_link(worker_mail_dir))
    page = pages.keep("manager confirm page", client.get(f"{link.path}?{link.query}"))
    assert page.status_code == 200
    token = parse_qs(link.query)["t"][0]
    decision = {"t": token, "decision": "confirm", "reason": "He told me he lost his phone."}
    done = pages.keep("manager done page", client.post(reverse("manager_decide"), decision))
    assert done.status_code == 200


def approver_approves(pages: Pages, ticket: Ticket, approver: Any) -> None:
    client = reauthenticated(signed_in(approver), approver)
    response = client.post(reverse("staff_approve", args=[ticket.pk]), {"note": "Reviewed."})
    assert response.status_code == 302
    pages.keep("case page (approver)", client.get(reverse("staff_ticket", args=[ticket.pk])))


def requester_reveals(pages: Pages, requester: Client, ticket: Ticket, code: str) -> str:
    check = {"reference": ticket.reference, "claim_code": code}
    assert requester.post(reverse("public_status_check"), check).status_code == 302
    pages.keep("status page", requester.get(reverse("public_status_case")))
    pages.keep("reveal", requester.post(reverse("public_status_reveal")))
    again = pages.keep("second reveal", requester.post(reverse("public_status_reveal")))
    assert again.status_code == 410
    found = re.search(r'id="tap"[^>]*>([^<]+)<', pages.seen["reveal"])
    assert found, pages.seen["reveal"][:2000]
    return html.unescape(found.group(1).strip())


def account_holder_says_not_me(pages: Pages, token: str) -> None:
    holder = Client()
    page = pages.keep("not-me confirm page", holder.get(reverse("public_not_me"), {"t": token}))
    assert page.status_code == 200
    done = pages.keep(
        "not-me done page", holder.post(reverse("public_not_me_report"), {"t": token})
    )
    assert done.status_code == 200


def auditor_exports(pages: Pages, auditor: Any) -> None:
    client = signed_in(auditor)
    for name, url in (
        ("audit export csv", "audit_export_csv"),
        ("audit export json", "audit_export_json"),
    ):
        assert pages.keep(name, client.get(reverse(url))).status_code == 200


def containment_done(ticket: Ticket, *, before: set[Any]) -> bool:
    """The pass deleted and the sessions revoked by operations requested after ``before``."""
    kinds = (Kind.DELETE_METHODS, Kind.REVOKE_SESSIONS)
    operations = GraphOperation.objects.filter(correlation=ticket.reference, kind__in=kinds)
    operations = operations.exclude(pk__in=before)
    finished = (OpStatus.SUCCEEDED, OpStatus.FAILED, OpStatus.NEEDS_REVIEW)
    return operations.count() == 2 and all(op.status in finished for op in operations)


# --- The test ----------------------------------------------------------------------------------


def test_secret_scan_finds_each_secret_only_where_its_holder_receives_it(
    all_log_records, simtenant, mailing_worker, worker_mail_dir, redis_monitor
) -> None:  # type: ignore[no-untyped-def]
    # given the cast, and a marker planted in a log line, a Redis value and a database row
    agent = staff("agent", ["helpdesk_agent"])
    approver = staff("approver", ["approver"])
    auditor = staff("auditor", ["auditor"])
    staff("security", ["security_officer"])  # receives the alerts
    manager = make_manager(email=MANAGER_UPN)
    marker = f"PlantedMarker{uuid.uuid4().hex}"
    logging.getLogger("tickets.scan_check").warning("planted %s", marker)
    planted = redis.Redis.from_url(settings.REDIS_URL)
    planted.set("rp-scan-check", base64.b64encode(f"x{marker}".encode()))
    pages = Pages()

    # when the whole case runs: the request, the lookup and its two "this wasn't me" mails
    requester = Client()
    ticket, claim_code = file_a_request(pages, requester)
    wait_until(
        lambda: (
            NotMeLink.objects.filter(ticket=ticket).count() == 2
            and len(list(mails_in(worker_mail_dir))) >= 2
        ),
        what="the worker's directory lookup and its two mails",
    )
    worker_mails = list(mails_in(worker_mail_dir))
    not_me_account = not_me_token(worker_mails, UPN)
    not_me_manager = not_me_token(worker_mails, MANAGER_UPN)
    # … the verification, the manager's decision through the mailed link, the approval
    agent_verifies(pages, ticket, agent, marker)
    manager_token = parse_qs(urlsplit(manager_link(worker_mail_dir)).query)["t"][0]
    manager_confirms(pages, manager, worker_mail_dir)
    approver_approves(pages, ticket, approver)
    # … the worker issues the pass; the requester sees it once
    wait_until(
        lambda: Ticket.objects.get(pk=ticket.pk).status in (Status.EXECUTED, Status.FAILED),
        what="the execution by the worker",
    )
    assert Ticket.objects.get(pk=ticket.pk).status == Status.EXECUTED, mailing_worker.log()[-3000:]
    tap = requester_reveals(pages, requester, ticket, claim_code)
    issued = simtenant.user(UPN)["tap"]
    assert issued["value_sha256"] == hashlib.sha256(tap.encode()).hexdigest()
    # … then the account holder says it was not them: the worker contains
    before = set(GraphOperation.objects.values_list("pk", flat=True))
    account_holder_says_not_me(pages, not_me_account)
    wait_until(
        lambda: containment_done(ticket, before=before), what="the containment by the worker"
    )
    assert simtenant.user(UPN)["tap"] is None
    assert Ticket.objects.get(pk=ticket.pk).status == Status.FROZEN
    auditor_exports(pages, auditor)
    mailing_worker.stop()  # its output is complete

    # and everything written is scanned
    scan = Scan(
        secrets={
            "tap": tap,
            "claim code": claim_code,
            "not-me token (account)": not_me_account,
            "not-me token (manager)": not_me_manager,
            "manager link token": manager_token,
            "planted marker": marker,
        }
    )
    scan_log_records(scan, all_log_records)
    scan_worker_output(scan, mailing_worker)
    mailed_to = scan_mails(scan, worker_mail_dir)
    columns = scan_database(scan)
    keys = scan_redis(scan)
    commands = redis_monitor.stop()
    scan.add("redis commands (MONITOR)", b"\n".join(commands))
    scan_local_files(scan)
    for name, body in pages.seen.items():
        scan.add(f"page:{name}", body)
    hits = scan.hits()
    planted.delete("rp-scan-check")

    # then the scanner saw the stores (it finds the planted marker in each kind)
    assert columns > 50 and keys > 0 and len(pages.seen) >= 10
    for kind in ("log:audit.siem", "db:audit_auditevent.", "worker output:", "mail[worker "):
        assert any(place.startswith(kind) for place in scan.places), kind
    assert "redis db0:rp-scan-check" in hits["planted marker"]
    assert "redis commands (MONITOR)" in hits["planted marker"]
    assert any(b'"LPUSH" "celery"' in line for line in commands)  # the broker's messages
    assert "log:tickets.scan_check" in hits["planted marker"]
    assert "db:tickets_verification.evidence" in hits["planted marker"]

    # and each secret is only where its holder receives it
    def the_mail(source: str, to: str, link: str) -> str:
        [place] = [
            place
            for place, recipient in mailed_to.items()
            if place.startswith(f"mail[{source} ")
            and recipient == to
            and link in scan.places[place]
        ]
        return place

    expected = {
        "tap": {"page:reveal"},
        "claim code": {"page:intake"},
        "not-me token (account)": {the_mail("worker", UPN, "/not-me/"), "page:not-me confirm page"},
        "not-me token (manager)": {the_mail("worker", MANAGER_UPN, "/not-me/")},
        "manager link token": {
            the_mail("worker", MANAGER_UPN, "/staff/manager/"),
            "page:manager confirm page",
        },
    }
    for name, allowed in expected.items():
        assert hits[name] == allowed, f"{name} found in {sorted(hits[name])}"

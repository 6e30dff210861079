"""A real SMTP endpoint on loopback for the mail tests: just enough SMTP for smtplib (Django's
SMTP backend), keeping each message it accepted. ``stall()`` makes the next session hang once
the client sends DATA — a mail server that took the envelope and never answered — until
``release()``; that message is never accepted."""

from __future__ import annotations

import email
import email.policy
import socketserver
import threading
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


class _SmtpSession(socketserver.StreamRequestHandler):
    server: SmtpSink

    def handle(self) -> None:
        self.wfile.write(b"220 sink ready\r\n")
        while line := self.rfile.readline():
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb == b"DATA":
                if self.server.stalling.is_set():
                    self.server.stalled.set()
                    self.server.released.wait(timeout=120)
                    return  # the connection closes: no reply, the message never accepted
                self.wfile.write(b"354 go ahead\r\n")
                self.server.messages.append(self._read_data())
                self.wfile.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:  # EHLO, HELO, MAIL, RCPT, RSET, NOOP
                self.wfile.write(b"250 ok\r\n")

    def _read_data(self) -> bytes:
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)
        return b"".join(lines)


class SmtpSink(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpSession)
        self.messages: list[bytes] = []
        self.stalling = threading.Event()
        self.stalled = threading.Event()
        self.released = threading.Event()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def mails(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[misc]
            for raw in self.messages
        ]

    def stall(self) -> None:
        self.stalling.set()

    def release(self) -> None:
        """Stop stalling: the hung session closes, later sessions are served."""
        self.stalling.clear()
        self.released.set()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    thread = threading.Thread(target=sink.serve_forever, daemon=True)
    thread.start()
    yield sink
    sink.release()
    sink.shutdown()
    sink.server_close()


def body_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]

"""HTTP plumbing: the Graph server (http, with the control API) and the authority (https)."""

from __future__ import annotations

import json
import logging
import re
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa

from simtenant import audit_log, graph, login, shapes
from simtenant.control import Control
from simtenant.graph import Reply
from simtenant.state import RequestRecord, Tenant, iso, now

logger = logging.getLogger("simtenant")
GRAPH_CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "simtenant/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.info("%s %s", self.address_string(), format % args)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, reply: Reply, *, content_type: str = "application/json") -> None:
        data = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.body is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self.serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self.serve("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self.serve("DELETE")

    def do_PATCH(self) -> None:  # noqa: N802
        self.serve("PATCH")

    def serve(self, method: str) -> None:
        self.send_error(405)  # each server's handler answers its own routes


def _clean_path(raw: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(raw)
    path = re.sub(r"/{2,}", "/", unquote(parts.path)).rstrip("/") or "/"
    return path, dict(parse_qsl(parts.query, keep_blank_values=True))


class GraphHandler(_Handler):
    tenant: Tenant
    control: Control

    def serve(self, method: str) -> None:
        path, query = _clean_path(self.path)
        raw = self._read_body()
        body = json.loads(raw) if raw.strip() else {}
        if path.startswith("/_sim/"):
            self._send(self._control(method, path, body))
            return
        request_id = str(uuid.uuid4())
        client_request_id = self.headers.get("client-request-id") or str(uuid.uuid4())
        ids = (request_id, client_request_id)
        reply, stall = self._graph(method, path, query, body, ids=ids)
        if stall:
            time.sleep(stall)
        if reply.status >= 400 and reply.body is None:
            reply.body = {}
        if reply.status >= 400 and "error" in (reply.body or {}):
            reply.body["error"]["innerError"]["request-id"] = request_id  # type: ignore[index]
            reply.body["error"]["innerError"]["client-request-id"] = client_request_id  # type: ignore[index]
        reply.headers.update(
            {
                "request-id": request_id,
                "client-request-id": client_request_id,
                "x-ms-ags-diagnostic": '{"ServerInfo":{"DataCenter":"Loopback","Slice":"E",'
                '"Ring":"SIM","ScaleUnit":"000","RoleInstance":"SIM"}}',
            }
        )
        with self.tenant.lock:
            self.tenant.requests.append(
                RequestRecord(method, path, reply.status, client_request_id, iso(now()))
            )
        self._send(reply, content_type=GRAPH_CONTENT_TYPE)

    def _control(self, method: str, path: str, body: dict[str, Any]) -> Reply:
        try:
            return self.control.handle(method, path, body)
        except (LookupError, TypeError, ValueError) as exc:
            return Reply(400 if not isinstance(exc, LookupError) else 404, {"error": repr(exc)})

    def _graph(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: dict[str, Any],
        *,
        ids: tuple[str, str],
    ) -> tuple[Reply, float]:
        if not path.startswith("/v1.0/"):
            return _error(400, "BadRequest", "Invalid version: only v1.0 is simulated."), 0.0
        app = self._authenticate()
        if isinstance(app, Reply):
            return app, 0.0
        with self.tenant.lock:
            fault = self.tenant.take_fault(method, path)
        stall_after = 0.0
        if fault is not None:
            if fault.delay_seconds and not fault.delay_after_action:
                time.sleep(fault.delay_seconds)
            if fault.status and not fault.delay_after_action:
                return _fault_reply(fault.status, fault.retry_after), 0.0
            stall_after = fault.delay_seconds if fault.delay_after_action else 0.0
        base_url = f"http://{self.headers.get('Host') or '127.0.0.1'}/v1.0"
        request = graph.Request(
            method, path[len("/v1.0") :], query, body, app, self.tenant, base_url
        )
        try:
            with self.tenant.lock:
                reply = graph.dispatch(request)
                # The change happened, whatever the caller hears next (a fault below).
                audit_log.after_graph_call(
                    request, reply, request_id=ids[0], client_request_id=ids[1]
                )
        except graph.GraphError as exc:
            reply = _error(exc.status, exc.code, exc.message)
        if fault is not None and fault.status:
            # Acted, then failed to answer: the write happened, the caller cannot know it.
            reply = _fault_reply(fault.status, fault.retry_after)
        return reply, stall_after

    def _authenticate(self) -> Any:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            return _error(401, "InvalidAuthenticationToken", "Access token is empty.")
        with self.tenant.lock:
            entry = self.tenant.tokens.get(header[7:].strip())
            if entry is None or self.tenant.reject_tokens:
                return _error(
                    401,
                    "InvalidAuthenticationToken",
                    "Access token validation failure. Invalid audience.",
                )
            client_id, expires = entry
            if expires <= now():
                return _error(
                    401,
                    "InvalidAuthenticationToken",
                    "Lifetime validation failed, the token is expired.",
                )
            return self.tenant.apps.get(client_id) or _error(
                401, "InvalidAuthenticationToken", "Access token validation failure."
            )


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(status, shapes.error_json(code, message, request_id="", client_request_id=""))


def _fault_reply(status: int, retry_after: int | None) -> Reply:
    code, message = {
        429: ("TooManyRequests", "Too many requests. Retry after the interval in Retry-After."),
        503: ("serviceNotAvailable", "The service is temporarily unavailable. Try again later."),
        504: ("UnknownError", "Gateway timeout."),
    }.get(status, ("generalException", "An unexpected error occurred."))
    reply = _error(status, code, message)
    if retry_after is not None:
        reply.headers["Retry-After"] = str(retry_after)
    return reply


class LoginHandler(_Handler):
    tenant: Tenant
    base_url: str
    signing_key: rsa.RSAPrivateKey
    tls: ssl.SSLContext

    def setup(self) -> None:
        # The TLS handshake happens here, in the connection's own thread: a client that
        # connects and never speaks must not stall the accept loop.
        self.request.settimeout(30)
        self.request = self.tls.wrap_socket(self.request, server_side=True)
        super().setup()

    def serve(self, method: str) -> None:
        path, _ = _clean_path(self.path)
        raw = self._read_body().decode()
        openid = re.match(r"^/(?P<tid>[^/]+)/v2\.0/\.well-known/openid-configuration$", path)
        token = re.match(r"^/(?P<tid>[^/]+)/oauth2/v2\.0/token$", path)
        if method == "GET" and openid:
            self._send(login.openid_configuration(base_url=self.base_url, tenant_id=openid["tid"]))
        elif method == "POST" and token:
            form = dict(parse_qsl(raw, keep_blank_values=True))
            with self.tenant.lock:
                reply = login.token(
                    self.tenant,
                    tenant_id=token["tid"],
                    form=form,
                    signing_key=self.signing_key,
                    token_url=f"{self.base_url}{path}",
                )
            self._send(reply)
        else:
            self._send(Reply(404, {"error": "not_found", "error_description": path}))


class SimServer:
    """Both servers, each in its own thread. ``start()`` binds before returning."""

    def __init__(
        self,
        *,
        tenant: Tenant,
        control: Control,
        host: str,
        graph_port: int,
        login_port: int,
        login_base_url: str,
        cert_file: str,
        key_file: str,
        signing_key: rsa.RSAPrivateKey,
    ) -> None:
        graph_handler = type("BoundGraph", (GraphHandler,), {"tenant": tenant, "control": control})
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        login_handler = type(
            "BoundLogin",
            (LoginHandler,),
            {
                "tenant": tenant,
                "base_url": login_base_url,
                "signing_key": signing_key,
                "tls": context,
            },
        )
        self.graph = ThreadingHTTPServer((host, graph_port), graph_handler)
        self.login = ThreadingHTTPServer((host, login_port), login_handler)
        self.graph.daemon_threads = self.login.daemon_threads = True
        self.threads = [
            threading.Thread(target=s.serve_forever, daemon=True) for s in (self.graph, self.login)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        for server in (self.graph, self.login):
            server.shutdown()
            server.server_close()

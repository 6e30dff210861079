"""The msgraph-sdk client, built per call of ``run`` (one event loop each: a client must not
outlive its loop), and the translation of what it raises into the ledger's terms."""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import functools
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_http.middleware.options import RetryHandlerOption
from kiota_http.middleware.options.headers_inspection_handler_option import (
    HeadersInspectionHandlerOption,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph_core import GraphClientFactory

from graphops import errors
from graphops.credential import MsalCredential, TokenRefused

logger = logging.getLogger(__name__)
T = TypeVar("T")
TRANSIENT_STATUSES = {429, 500, 502, 503, 504}


@dataclass
class Session:
    """One operation's conversation with Graph: the client, the id sent as client-request-id,
    and the request-ids Graph answered with (kept in the ledger for support cases)."""

    client: GraphServiceClient
    client_request_id: str
    request_ids: list[str] = field(default_factory=list)

    def config(self, query: Any = None, *, headers: dict[str, str] | None = None) -> Any:
        """A request configuration: our client-request-id, no SDK retry (the ledger owns
        retries), and an inspector that hands us Graph's request-id."""
        inspector = HeadersInspectionHandlerOption(inspect_response_headers=True)
        config: RequestConfiguration[Any] = RequestConfiguration(
            query_parameters=query, options=[RetryHandlerOption(max_retries=0), inspector]
        )
        config.headers.add("client-request-id", self.client_request_id)
        for name, value in (headers or {}).items():
            config.headers.add(name, value)
        self._inspectors.append(inspector)
        return config

    def __post_init__(self) -> None:
        self._inspectors: list[HeadersInspectionHandlerOption] = []

    def collect_request_ids(self) -> list[str]:
        for inspector in self._inspectors:
            values = inspector.response_headers.get("request-id") or set()
            self.request_ids.extend(sorted(values))
        self._inspectors.clear()
        return self.request_ids


@functools.lru_cache(maxsize=2)
def _tls_context(*, trust_env: bool) -> ssl.SSLContext:
    """One TLS context per process: loading the CA bundle cost ~0.1 s of CPU per operation
    when every client built its own (measured by bench/). Contexts are safe to share between
    the short-lived event loops; the clients themselves are not."""
    return httpx.create_ssl_context(trust_env=trust_env)


def build_client(*, credential: MsalCredential | None = None) -> GraphServiceClient:
    """A GraphServiceClient for settings.GRAPH_BASE_URL; must be used inside one event loop."""
    host = urlsplit(settings.GRAPH_BASE_URL).hostname or ""
    auth = AzureIdentityAuthenticationProvider(
        credential or MsalCredential(),
        scopes=[settings.GRAPH_SCOPE],
        allowed_hosts=[host],  # exact: any other host would get no Authorization header
    )
    if settings.GRAPH_CLOUD == "simulated":
        # kiota allows plain http for loopback names only; the simulated tenant also runs as
        # a compose service ("simulated" never points at a real tenant, which is https-only).
        provider = auth.access_token_provider
        provider.LOCALHOST_STRINGS = {*provider.LOCALHOST_STRINGS, host}  # type: ignore[attr-defined]
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(
            settings.GRAPH_TIMEOUT_SECONDS, connect=min(10, settings.GRAPH_TIMEOUT_SECONDS)
        ),
        trust_env=settings.GRAPH_CLOUD != "simulated",
        follow_redirects=False,
        verify=_tls_context(trust_env=settings.GRAPH_CLOUD != "simulated"),
    )
    adapter = GraphRequestAdapter(
        auth, client=GraphClientFactory.create_with_default_middleware(client=http)
    )
    adapter.base_url = settings.GRAPH_BASE_URL
    return GraphServiceClient(request_adapter=adapter)


def run(
    work: Callable[[Session], Awaitable[T]],
    *,
    client_request_id: str,
    credential: MsalCredential | None = None,
) -> tuple[T, list[str]]:
    """Run ``work`` in a fresh event loop with a fresh client; translate failures.

    Returns the result and Graph's request-ids. Raises errors.Transient / errors.Permanent.
    """

    async def main() -> tuple[T, list[str]]:
        session = Session(build_client(credential=credential), client_request_id)
        try:
            result = await work(session)
        except Exception as exc:
            raise translate(exc, request_ids=session.collect_request_ids()) from None
        return result, session.collect_request_ids()

    return _run_coroutine(main())


def _run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, also from a thread whose event loop is already running.

    Such a thread (an async caller, or Playwright's sync API in the test process) makes
    asyncio.run() raise; there the coroutine runs to completion in a short-lived thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def retry_after_seconds(headers: Any, *, default: float = 30.0) -> float:
    """Graph sends seconds; the HTTP spec also allows a date. Missing → a default pause."""
    raw = None
    if headers is not None:
        raw = headers.get("retry-after") or headers.get("Retry-After")
        if isinstance(raw, set | list | tuple):
            raw = next(iter(raw), None)
    if not raw:
        return default
    try:
        return max(0.0, float(raw))
    except ValueError:
        moment = email.utils.parsedate_to_datetime(str(raw))
        return max(0.0, moment.timestamp() - time.time())


def translate(exc: Exception, *, request_ids: list[str]) -> Exception:
    """Map what msal, kiota and httpx raise to errors.Transient / errors.Permanent."""
    if isinstance(exc, errors.GraphCallError):
        return exc
    if isinstance(exc, TokenRefused):
        return _token_refused(exc, request_ids=request_ids)
    if isinstance(exc, APIError):
        return _api_error(exc, request_ids=request_ids)
    if isinstance(exc, httpx.TimeoutException):
        return errors.Transient(
            f"Graph did not answer within {settings.GRAPH_TIMEOUT_SECONDS} s.",
            code="timeout",
            retry_after=30,
            request_ids=request_ids,
        )
    if isinstance(exc, httpx.TransportError):
        return errors.Transient(
            f"Graph could not be reached ({type(exc).__name__}).",
            code="unreachable",
            retry_after=30,
            request_ids=request_ids,
        )
    return exc


def _token_refused(exc: TokenRefused, *, request_ids: list[str]) -> errors.GraphCallError:
    message = (
        f"Entra refused the portal's token request ({exc.code}): {exc.description} "
        "Check GRAPH_TENANT_ID, GRAPH_CLIENT_ID and the client secret or certificate."
    )
    if exc.transient:
        return errors.Transient(
            message, code=f"token_{exc.code}"[:64], retry_after=30, request_ids=request_ids
        )
    return errors.Permanent(
        message, code=f"token_{exc.code}"[:64], retryable=True, request_ids=request_ids
    )


def _api_error(exc: APIError, *, request_ids: list[str]) -> errors.GraphCallError:
    status = exc.response_status_code or 0
    code, message = "", str(exc.message or "")
    if isinstance(exc, ODataError) and exc.error is not None:
        code = exc.error.code or ""
        message = exc.error.message or message
        inner = exc.error.inner_error
        if inner is not None and inner.request_id:
            request_ids = [*request_ids, inner.request_id]
    code = code or f"http_{status}"
    if status in TRANSIENT_STATUSES:
        return errors.Transient(
            f"Graph answered {status} ({code}): {message}",
            code=code,
            status=status,
            retry_after=retry_after_seconds(exc.response_headers),
            request_ids=request_ids,
        )
    return errors.Permanent(
        explain(status, code, message),
        code=code,
        status=status,
        request_ids=request_ids,
        retryable=status in (401, 403),
    )


def explain(status: int, code: str, message: str) -> str:
    """Graph's refusal in words a helpdesk lead or an Entra admin can act on."""
    if status == 401:
        return (
            f"Graph refused the portal's token ({code}: {message}). The app registration's "
            "credential may have expired or been revoked."
        )
    if status == 403:
        return (
            f"The portal's app registration lacks a Graph permission for this call "
            f"({code}). Run `manage.py graph_check` to see which one, grant it and give "
            "admin consent."
        )
    if "UserCredentialPolicy" in message:
        return (
            "The Temporary Access Pass method is off in the tenant's authentication methods "
            "policy, or this user is not in its scope (Entra admin center → Authentication "
            "methods → Temporary Access Pass)."
        )
    if status == 404:
        return f"Not found in the directory ({code}): {message}"
    return f"Graph refused the request ({status} {code}): {message}"

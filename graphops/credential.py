"""The app-only token: an msal ConfidentialClientApplication (secret or certificate), handed to
msgraph-sdk as an azure-core token credential.

msal's constructor fetches the tenant's OpenID configuration over the network, so the app is
built lazily, once per process, and keeps its in-memory token cache for the process's life.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import msal
import requests
from azure.core.credentials import AccessToken
from django.conf import settings

_lock = threading.Lock()
_app: msal.ConfidentialClientApplication | None = None


class TokenRefused(Exception):
    """Entra (or the simulated tenant) refused the token request. ``code`` is msal's error
    (``invalid_client``…), ``description`` its AADSTS text, which names no secret."""

    def __init__(self, *, code: str, description: str, transient: bool = False) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.transient = transient


def _pem_blocks(pem: str, label: str) -> str:
    pattern = rf"-----BEGIN [A-Z ]*{label}-----.+?-----END [A-Z ]*{label}-----"
    return "\n".join(re.findall(pattern, pem, flags=re.DOTALL))


def _client_credential() -> str | dict[str, Any]:
    if settings.GRAPH_CLIENT_CERTIFICATE_PATH:
        # One PEM file with the private key and the certificate (as Entra's docs suggest).
        pem = Path(settings.GRAPH_CLIENT_CERTIFICATE_PATH).read_text(encoding="utf-8")
        credential: dict[str, Any] = {
            "private_key": _pem_blocks(pem, "PRIVATE KEY"),
            "public_certificate": _pem_blocks(pem, "CERTIFICATE"),
        }
        if settings.GRAPH_CLIENT_CERTIFICATE_PASSWORD:
            credential["passphrase"] = settings.GRAPH_CLIENT_CERTIFICATE_PASSWORD
        return credential
    return str(settings.GRAPH_CLIENT_SECRET)


def _http_session() -> requests.Session:
    session = requests.Session()
    if settings.GRAPH_CLOUD == "simulated":
        # REQUESTS_CA_BUNDLE (set on some machines) would override `verify` otherwise.
        session.trust_env = False
        session.verify = settings.SIMTENANT_CA_FILE
    return session


def build_app() -> msal.ConfidentialClientApplication:
    """A new msal app from settings (network call: the authority's metadata)."""
    simulated = settings.GRAPH_CLOUD == "simulated"
    return msal.ConfidentialClientApplication(
        settings.GRAPH_CLIENT_ID,
        client_credential=_client_credential(),
        authority=f"{settings.GRAPH_AUTHORITY_HOST}/{settings.GRAPH_TENANT_ID}",
        http_client=_http_session(),
        timeout=settings.GRAPH_TIMEOUT_SECONDS,
        instance_discovery=not simulated,
        validate_authority=not simulated,
    )


def shared_app() -> msal.ConfidentialClientApplication:
    global _app
    with _lock:
        if _app is None:
            _app = build_app()
        return _app


def forget() -> None:
    """Drop the process's msal app and its cached token (settings changed, tests)."""
    global _app
    with _lock:
        _app = None


class MsalCredential:
    """azure-core ``TokenCredential``: what kiota's AzureIdentityAuthenticationProvider calls."""

    def __init__(self, app: msal.ConfidentialClientApplication | None = None) -> None:
        self._app = app

    @property
    def app(self) -> msal.ConfidentialClientApplication:
        return self._app or shared_app()

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        try:
            result = self.app.acquire_token_for_client(scopes=[settings.GRAPH_SCOPE])
        except msal.exceptions.MsalServiceError as exc:
            # Raised by msal for a token endpoint 5xx: the service, not our credential.
            raise TokenRefused(
                code="server_error", description=type(exc).__name__, transient=True
            ) from None
        except (requests.RequestException, ValueError) as exc:
            raise TokenRefused(
                code="authority_unreachable", description=type(exc).__name__, transient=True
            ) from None
        if "access_token" not in result:
            description = str(result.get("error_description", "")).split("\r\n")[0]
            error = str(result.get("error", "unknown_error"))
            raise TokenRefused(
                code=error,
                description=description,
                transient=error in ("temporarily_unavailable", "server_error"),
            )
        expires_on = int(time.time()) + int(result.get("expires_in", 0))
        return AccessToken(result["access_token"], expires_on)

    def close(self) -> None:
        """azure-core credentials are closable; an msal app holds nothing to close."""

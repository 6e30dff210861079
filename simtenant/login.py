"""The authority endpoints msal calls (client-credentials flow), served over HTTPS."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import uuid
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from simtenant.graph import Reply
from simtenant.state import App, Tenant

GRAPH_AUDIENCES = {
    "https://graph.microsoft.com/.default": "https://graph.microsoft.com",
    "https://graph.microsoft.us/.default": "https://graph.microsoft.us",
    "https://dod-graph.microsoft.us/.default": "https://dod-graph.microsoft.us",
    "https://microsoftgraph.chinacloudapi.cn/.default": "https://microsoftgraph.chinacloudapi.cn",
}
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def openid_configuration(*, base_url: str, tenant_id: str) -> Reply:
    root = f"{base_url}/{tenant_id}"
    return Reply(
        200,
        {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "issuer": f"{root}/v2.0",
            "jwks_uri": f"{base_url}/{tenant_id}/discovery/v2.0/keys",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "tenant_region_scope": "EU",
        },
    )


def _aad_error(status: int, error: str, code: int, text: str) -> Reply:
    trace = str(uuid.uuid4())
    return Reply(
        status,
        {
            "error": error,
            "error_description": f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: "
            f"{uuid.uuid4()} Timestamp: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%SZ}",
            "error_codes": [code],
            "timestamp": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%SZ}",
            "trace_id": trace,
            "correlation_id": str(uuid.uuid4()),
        },
    )


def token(
    tenant: Tenant,
    *,
    tenant_id: str,
    form: dict[str, str],
    signing_key: rsa.RSAPrivateKey,
    token_url: str,
) -> Reply:
    if tenant.token_endpoint_down:
        return _aad_error(503, "temporarily_unavailable", 90033, "A transient error has occurred.")
    if tenant_id.lower() != tenant.tenant_id.lower():
        return _aad_error(400, "invalid_request", 90002, f"Tenant '{tenant_id}' not found.")
    if form.get("grant_type") != "client_credentials":
        return _aad_error(
            400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
        )
    app = tenant.apps.get(form.get("client_id", ""))
    if app is None:
        return _aad_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{form.get('client_id')}' was not found "
            f"in the directory '{tenant_id}'.",
        )
    refusal = _authenticate(app, form, token_url=token_url)
    if refusal is not None:
        return refusal
    audience = GRAPH_AUDIENCES.get(form.get("scope", "").split(" ")[0])
    if audience is None:
        return _aad_error(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {form.get('scope')} is not valid.",
        )
    access_token = _issue(tenant, app, audience=audience, signing_key=signing_key)
    return Reply(
        200,
        {
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": access_token,
        },
    )


def _authenticate(app: App, form: dict[str, str], *, token_url: str) -> Reply | None:
    if "client_secret" in form:
        if app.secret is not None and secrets.compare_digest(form["client_secret"], app.secret):
            return None
        return _aad_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
    if form.get("client_assertion_type") == ASSERTION_TYPE and app.certificate_pem:
        if _assertion_valid(form.get("client_assertion", ""), app, token_url=token_url):
            return None
        return _aad_error(
            401,
            "invalid_client",
            700027,
            "The certificate with identifier used "
            "to sign the client assertion is not registered on application.",
        )
    return _aad_error(
        401,
        "invalid_client",
        7000218,
        "The request body must contain the "
        "following parameter: 'client_assertion' or 'client_secret'.",
    )


def _assertion_valid(assertion: str, app: App, *, token_url: str) -> bool:
    try:
        header_b64, payload_b64, signature_b64 = assertion.split(".")
        header = json.loads(b64url_decode(header_b64))
        payload = json.loads(b64url_decode(payload_b64))
        cert = x509.load_pem_x509_certificate(app.certificate_pem or b"")
        public_key = cert.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            return False
        signed = f"{header_b64}.{payload_b64}".encode()
        signature = b64url_decode(signature_b64)
        if header.get("alg") == "PS256":
            pad: padding.AsymmetricPadding = padding.PSS(
                mgf=padding.MGF1(hashes.SHA256()), salt_length=hashes.SHA256.digest_size
            )
        else:
            pad = padding.PKCS1v15()
        public_key.verify(signature, signed, pad, hashes.SHA256())
    except (ValueError, KeyError, InvalidSignature):
        return False
    return (
        payload.get("iss") == app.client_id
        and payload.get("exp", 0) > dt.datetime.now(dt.UTC).timestamp()
    )


def _issue(tenant: Tenant, app: App, *, audience: str, signing_key: rsa.RSAPrivateKey) -> str:
    issued = dt.datetime.now(dt.UTC)
    expires = issued + dt.timedelta(seconds=3599)
    header = {"typ": "JWT", "alg": "RS256", "kid": "simtenant"}
    payload: dict[str, Any] = {
        "aud": audience,
        "iss": f"https://sts.windows.net/{tenant.tenant_id}/",
        "iat": int(issued.timestamp()),
        "nbf": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
        "appid": app.client_id,
        "appidacr": "1" if app.secret else "2",
        "idtyp": "app",
        "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, app.client_id)),
        "roles": sorted(app.grants),
        "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, app.client_id)),
        "tid": tenant.tenant_id,
        "uti": secrets.token_urlsafe(16),
        "ver": "1.0",
    }
    signed = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = signing_key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    value = f"{signed}.{b64url(signature)}"
    tenant.tokens[value] = (app.client_id, expires)
    return value

"""The msal credential: client secret and certificate, against the simulated authority."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from graphops import credential, operations
from graphops.models import Kind, OpStatus

pytestmark = pytest.mark.django_db
MARIO = "mario.rossi@contoso.example"


def _certificate_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Recovery Portal Graph")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem.decode() + cert.public_bytes(serialization.Encoding.PEM).decode()


def test_certificate_credential_gets_a_token_and_calls_graph(
    simtenant, settings, tmp_path, run_operation
):
    # given: an app registration with a certificate instead of a secret
    pem = _certificate_pem()
    client_id = str(uuid.uuid4())
    cert_pem = pem[pem.index("-----BEGIN CERTIFICATE") :]
    simtenant.add_app(client_id=client_id, certificate_pem=cert_pem)
    simtenant.call(
        "POST", "/_sim/permissions", {"client_id": client_id, "grant": ["User.Read.All"]}
    )
    (tmp_path / "graph.pem").write_text(pem)
    settings.GRAPH_CLIENT_ID = client_id
    settings.GRAPH_CLIENT_SECRET = ""
    settings.GRAPH_CLIENT_CERTIFICATE_PATH = str(tmp_path / "graph.pem")
    credential.forget()
    # when
    done = run_operation(operations.request_operation(Kind.LOOKUP_USER, target_upn=MARIO))
    # then
    assert done.status == OpStatus.SUCCEEDED, done.error_message
    assert done.result["user"]["userPrincipalName"] == MARIO


def test_wrong_secret_fails_retryable_without_showing_it(simtenant, settings, run_operation):
    # given
    settings.GRAPH_CLIENT_SECRET = "wrong-secret-value"
    credential.forget()
    # when
    done = run_operation(operations.request_operation(Kind.LOOKUP_USER, target_upn=MARIO))
    # then
    assert done.status == OpStatus.FAILED
    assert done.error_code == "token_invalid_client"
    assert done.retryable is True
    assert "AADSTS7000215" in done.error_message
    assert "wrong-secret-value" not in done.error_message


def test_token_endpoint_down_is_transient(simtenant, run_operation):
    # given
    simtenant.call("POST", "/_sim/tokens", {"endpoint_down": True})
    # when
    done = run_operation(operations.request_operation(Kind.LOOKUP_USER, target_upn=MARIO))
    # then
    assert done.status == OpStatus.PENDING
    assert done.error_code.startswith("token_")
    simtenant.call("POST", "/_sim/tokens", {"endpoint_down": False})


def test_the_token_is_cached_per_process(simtenant):
    # given
    cred = credential.MsalCredential()
    # when
    first = cred.get_token("https://graph.microsoft.com/.default")
    second = cred.get_token("https://graph.microsoft.com/.default")
    # then
    assert first.token == second.token

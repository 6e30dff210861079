"""The claim code and the "this wasn't me" token: in no log line, no other mail, no column."""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qs, urlparse

import pytest
from django.core import mail
from django.db import connection
from django.urls import reverse

from graphops import ledger
from graphops.models import GraphOperation, Kind
from tests.tickets.casework import deliver_mail
from tickets import intake
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

UPN = "mario.rossi@contoso.example"
ALTERNATE = "mario.personal@example.org"
FOUND = {
    "user": {"id": "u-1", "userPrincipalName": UPN, "mail": UPN, "accountEnabled": True},
    "manager": {"id": "u-2", "userPrincipalName": "giulia.bianchi@contoso.example"},
    "is_privileged": False,
    "privileged_roles": [],
    "methods": [],
}
FORM = {
    "full_name": "Mario Rossi",
    "upn": UPN,
    "department": "Finance",
    "urgency": "high",
    "alternate_phone": "+39 333 123 4567",
    "alternate_email": ALTERNATE,
    "what_happened": "stolen",
    "methods_still_working": ["none"],
    "backup_enabled": "unknown",
    "preferred_verification": "callback",
}


def variants(secret: str) -> list[str]:
    """The forms a secret could leak in: as shown, without dashes, lower case, URL-quoted."""
    bare = secret.replace("-", "")
    return [secret, bare, secret.lower(), bare.lower(), secret.replace(":", "%3A")]


def full_journey(client, capture) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    """Submit, let the lookup finish, check the status (right and wrong code), use the link;
    the worker sends the mail owed along the way."""
    with capture(execute=True):
        html = client.post(reverse("public_request_submit"), FORM).content.decode()
    reference = re.search(r'id="reference">([^<]+)<', html).group(1)  # type: ignore[union-attr]
    code = re.search(r'id="claim-code">([^<]+)<', html).group(1)  # type: ignore[union-attr]
    operation = GraphOperation.objects.get(kind=Kind.DIRECTORY_LOOKUP, correlation=reference)
    claimed = ledger.claim(str(operation.pk))
    assert claimed is not None
    with capture(execute=True):
        ledger.succeed(claimed, success=ledger.Success(result=FOUND))
    deliver_mail()
    client.post(reverse("public_status_check"), {"reference": reference, "claim_code": "A" * 16})
    client.post(reverse("public_status_check"), {"reference": reference, "claim_code": code})
    client.get(reverse("public_status_case"))
    [notice] = [m for m in mail.outbox if m.to == [UPN]]
    link = re.search(r"(http\S+/not-me/\?t=\S+)", notice.body).group(1)  # type: ignore[union-attr]
    token = parse_qs(urlparse(link).query)["t"][0]
    client.get(reverse("public_not_me"), {"t": token})
    with capture(execute=True):
        client.post(reverse("public_not_me_report"), {"t": token})
    client.post(reverse("public_not_me_report"), {"t": token})  # a second, refused use
    deliver_mail()
    return reference, code, token


@pytest.fixture
def every_log_line(caplog):  # type: ignore[no-untyped-def]
    """caplog at DEBUG, also on the SIEM logger (which does not propagate)."""
    siem = logging.getLogger("audit.siem")
    siem.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    yield caplog
    siem.removeHandler(caplog.handler)


def test_secrets_appear_in_no_log_line(
    client, security, every_log_line, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    # when a whole journey runs, with every logger at DEBUG
    reference, code, token = full_journey(client, django_capture_on_commit_callbacks)
    # then lines were written (the journey is audited) but none holds the code or the token
    lines = [every_log_line.handler.format(r) for r in every_log_line.records]
    assert any(reference in line for line in lines)
    for line in lines:
        for secret in variants(code) + variants(token):
            assert secret not in line


def test_secrets_are_in_no_database_column(
    client, security, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    # given a whole journey
    reference, code, token = full_journey(client, django_capture_on_commit_callbacks)
    assert Ticket.objects.get(reference=reference).status == "frozen"
    # then no row of any table holds the code or the token in clear
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - names from introspection
            for row in cursor.fetchall():
                text = " ".join(str(value) for value in row)
                for secret in variants(code) + variants(token):
                    assert secret not in text, f"secret found in table {table}"


def test_alternate_contact_gets_no_code_no_link_no_pass(
    client, security, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    # given a whole journey (the worker's mail to the alternate contact included)
    reference, code, token = full_journey(client, django_capture_on_commit_callbacks)
    # then the alternate contact got exactly one mail, with the reference and nothing else
    [to_alternate] = [m for m in mail.outbox if ALTERNATE in m.to]
    assert reference in to_alternate.body
    for secret in variants(code) + variants(token):
        assert secret not in to_alternate.body
    assert "/not-me/" not in to_alternate.body
    # and no mail but the account holder's carries the link; none carries the claim code
    for message in mail.outbox:
        text = message.subject + message.body
        assert not any(secret in text for secret in variants(code))
        if token in text:
            assert message.to == [UPN]


def test_claim_code_hash_alone_does_not_reveal_the_code() -> None:
    receipt = intake.submit_request(
        intake.IntakeRequest(
            full_name="Mario Rossi",
            upn=UPN,
            department="Finance",
            urgency="high",
            blocked_work="",
            alternate_phone="+39 333 123 4567",
            alternate_email="",
            what_happened="lost",
            methods_still_working=[],
            backup_enabled="no",
            preferred_verification="video",
            details="",
        )
    )
    stored = Ticket.objects.get(pk=receipt.ticket.pk).claim_code_hash
    assert not any(secret in stored for secret in variants(receipt.claim_code))
    assert len(stored) == len("hmac-sha256$") + 64

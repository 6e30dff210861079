"""The intake against the simulated tenant over real msal + msgraph-sdk, and a real worker."""

from __future__ import annotations

import re
import time

import pytest
from django.core import mail
from django.urls import reverse

from graphops.models import GraphOperation, Kind, OpStatus
from tests.tickets.casework import deliver_mail
from tickets.models import DirectoryState, NotMeLink, Status, Ticket

pytestmark = pytest.mark.django_db

DOMAIN = "contoso.example"


def form(login: str) -> dict[str, object]:
    return {
        "full_name": "Someone",
        "upn": f"{login}@{DOMAIN}",
        "department": "Finance",
        "urgency": "high",
        "alternate_phone": "+39 333 123 4567",
        "what_happened": "lost",
        "methods_still_working": ["none"],
        "backup_enabled": "no",
        "preferred_verification": "video",
    }


def submit(client, login: str) -> tuple[Ticket, str]:  # type: ignore[no-untyped-def]
    html = client.post(reverse("public_request_submit"), form(login)).content.decode()
    reference = re.search(r'id="reference">([^<]+)<', html).group(1)  # type: ignore[union-attr]
    code = re.search(r'id="claim-code">([^<]+)<', html).group(1)  # type: ignore[union-attr]
    return Ticket.objects.get(reference=reference), code


def lookup(ticket: Ticket) -> GraphOperation:
    return GraphOperation.objects.get(kind=Kind.DIRECTORY_LOOKUP, correlation=ticket.reference)


def status_page(client, ticket: Ticket, code: str) -> str:  # type: ignore[no-untyped-def]
    client.post(reverse("public_status_check"), {"reference": ticket.reference, "claim_code": code})
    html = client.get(reverse("public_status_case")).content.decode()
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)
    return html.replace(ticket.reference, "RP-REF")


def test_lookup_stores_the_directory_facts_and_warns_account_and_manager(
    client, simtenant, run_operation, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    # given a request for an account of the directory
    ticket, _code = submit(client, "mario.rossi")
    mail.outbox.clear()
    # when the lookup runs against the (simulated) tenant, and the worker sends the mail owed
    with django_capture_on_commit_callbacks(execute=True):
        run_operation(lookup(ticket))
    deliver_mail()
    # then the facts are on the ticket and the account and its manager are warned
    ticket.refresh_from_db()
    assert ticket.directory_state == DirectoryState.FOUND
    assert ticket.manager_upn == f"giulia.bianchi@{DOMAIN}"
    assert ticket.is_privileged is False
    assert ticket.directory_facts["user"]["displayName"] == "Mario Rossi"
    assert sorted(m.to[0] for m in mail.outbox) == [
        f"giulia.bianchi@{DOMAIN}",
        f"mario.rossi@{DOMAIN}",
    ]


def test_lookup_marks_a_global_administrator_privileged(
    client, simtenant, run_operation, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    ticket, _code = submit(client, "david.chen")
    with django_capture_on_commit_callbacks(execute=True):
        run_operation(lookup(ticket))
    ticket.refresh_from_db()
    assert ticket.is_privileged is True
    assert ticket.directory_facts["privileged_roles"]


def test_lookup_of_an_unknown_account_files_the_ticket_and_mails_nobody(
    client, simtenant, run_operation, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    ticket, _code = submit(client, "nobody.here")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        run_operation(lookup(ticket))
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW
    assert ticket.directory_state == DirectoryState.NOT_FOUND
    assert mail.outbox == []


def test_lookup_while_graph_is_down_leaves_the_ticket_filed_and_pending(
    client, simtenant, run_operation, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    # given Graph answering 503 to everything
    simtenant.fault(status=503, count=100, retry_after=1)
    ticket, _code = submit(client, "mario.rossi")
    # when the lookup is attempted
    with django_capture_on_commit_callbacks(execute=True):
        operation = run_operation(lookup(ticket))
    # then the row waits for a retry and the ticket is filed, its directory state pending
    assert operation.status == OpStatus.PENDING
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW
    assert ticket.directory_state == DirectoryState.PENDING


def test_status_page_is_the_same_whether_or_not_the_account_exists(
    client, simtenant, run_operation, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    # given two requests, one for a real account and one for nobody, both looked up
    real, real_code = submit(client, "mario.rossi")
    ghost, ghost_code = submit(client, "nobody.here")
    with django_capture_on_commit_callbacks(execute=True):
        run_operation(lookup(real))
        run_operation(lookup(ghost))
    # then the requester's status pages say exactly the same thing
    assert status_page(client, real, real_code) == status_page(client, ghost, ghost_code)


@pytest.mark.worker
def test_submission_is_looked_up_by_a_real_worker(client, celery_worker, wait_for) -> None:  # type: ignore[no-untyped-def]
    # given a running worker, when a request is filed through the page
    ticket, _code = submit(client, "mario.rossi")
    # then the worker runs the lookup and the intake's receiver stores the facts and mints the
    # two "this wasn't me" links (the mails leave from the worker's own mail backend)
    wait_for(lookup(ticket), OpStatus.SUCCEEDED)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and NotMeLink.objects.filter(ticket=ticket).count() < 2:
        time.sleep(0.2)
    ticket.refresh_from_db()
    assert ticket.directory_state == DirectoryState.FOUND
    assert ticket.manager_upn == f"giulia.bianchi@{DOMAIN}"
    assert set(NotMeLink.objects.filter(ticket=ticket).values_list("recipient", flat=True)) == {
        "account",
        "manager",
    }

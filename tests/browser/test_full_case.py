"""One real case, every person at their own browser: the employee asks, the agent verifies, the
manager confirms, a second person approves, a real Celery worker issues the TAP on the simulated
tenant, and the employee sees it exactly once."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import enrol_totp, totp_code
from tests.factories import STAFF_PASSWORD, UserFactory
from tests.fixtures_graph import Worker
from tests.smtp import body_of
from tickets.models import DirectoryState, Status, Ticket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.worker]

UPN = "mario.rossi@contoso.example"
MANAGER_UPN = "giulia.bianchi@contoso.example"


def wait_until(check: Any, *, what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise TimeoutError(f"still waiting for {what}")


def person(browser: Browser) -> Page:
    return browser.new_context(locale="en-GB").new_page()


def sign_in(page: Page, user: Any) -> None:
    """Password, then the code from the person's authenticator app."""
    page.get_by_label(re.compile("Username|Login", re.I)).fill(user.username)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name=re.compile("Sign in", re.I)).click()
    page.get_by_label(re.compile("Authenticator code|Code", re.I)).fill(totp_code(user))
    page.get_by_role("button", name=re.compile("Sign in|Confirm", re.I)).click()


def employee_asks_for_help(page: Page, base: str) -> tuple[str, str]:
    page.goto(base)
    for choice in ("My work or school account", "No", "No, none of these works"):
        page.get_by_label(choice, exact=choice == "No").check()
        page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ask IT to restore your access")
    page.get_by_label("Full name").fill("Mario Rossi")
    page.get_by_label("Work e-mail address").fill(UPN)
    page.get_by_label("Department or team").fill("Finance")
    page.get_by_label("High — I cannot work at all").check()
    page.get_by_label("Phone number where we can reach you").fill("+39 333 123 4567")
    page.get_by_label("Phone lost").check()
    page.get_by_label("None of these").check()
    page.get_by_label("I don't know").check()
    page.get_by_label("In person, with my badge").check()
    page.get_by_role("button", name="Send the request").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Request received")
    return page.locator("#reference").inner_text(), page.locator("#claim-code").inner_text()


def open_status(page: Page, base: str, reference: str, code: str) -> None:
    page.goto(f"{base}/status/")
    page.get_by_label("Reference").fill(reference)
    page.get_by_label("Claim code").fill(code)
    page.get_by_role("button", name="Show the status").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(reference)


def agent_verifies(page: Page, base: str, agent: Any, reference: str) -> None:
    page.goto(f"{base}/staff/queue/")
    sign_in(page, agent)
    page.get_by_role("link", name=reference).click()
    expect(page.get_by_text("Senior Accountant")).to_be_visible()  # directory facts
    page.get_by_role("button", name="Claim").click()
    page.get_by_role("button", name="Record the verification").click()
    expect(page.locator(".prompts li")).to_have_count(3)  # random liveness prompts
    page.get_by_label("In person, with the company badge").check()
    page.get_by_label(re.compile("What you checked")).fill(
        "Came to the IT desk; badge photo matches his face; badge number E2041 checked."
    )
    page.get_by_role("button", name="Record the verification and ask the manager").click()
    expect(page.get_by_text("Identity verification recorded")).to_be_visible()


def manager_confirms(page: Page, manager: Any, worker: Worker) -> None:
    [body] = wait_until(
        lambda: [
            text
            for m in worker.mails()
            if m["To"] == MANAGER_UPN and "/staff/manager/" in (text := body_of(m))
        ],
        what="the worker's mail of the manager link",
    )
    link = re.search(r"https?://\S+/staff/manager/\?t=\S+", body).group(0)  # type: ignore[union-attr]
    page.goto(link)
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    sign_in(page, manager)
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm a recovery request")
    page.get_by_label("I confirm: this request is genuine").check()
    page.get_by_label("Reason").fill("Mario told me this morning he lost his phone on the train.")
    page.get_by_role("button", name="Send my decision").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your decision is recorded")


def approver_approves(page: Page, base: str, approver: Any, ticket: Ticket) -> None:
    page.goto(f"{base}/staff/tickets/{ticket.pk}/")
    sign_in(page, approver)
    expect(page.get_by_text("In person, with the company badge")).to_be_visible()
    page.get_by_label("Note (optional)").fill("Evidence and plan reviewed.")
    page.get_by_role("button", name="Approve", exact=True).click()
    # a destructive step, seconds after a sign-in with the second factor: nothing asked again
    # (past RP_REAUTH_SECONDS it would be: tests/browser/test_staff_sign_in.py)
    expect(page.get_by_text("Your approval is recorded.")).to_be_visible()


@pytest.fixture
def portal_worker(live_server, monkeypatch, request) -> Worker:  # type: ignore[no-untyped-def]
    """The real worker, started knowing this portal's address: the links it mails point here."""
    monkeypatch.setenv("SITE_URL", live_server.url)
    return request.getfixturevalue("celery_worker")  # type: ignore[no-any-return]


def test_full_case_from_request_to_a_pass_shown_once(
    browser: Browser, live_server, simtenant, portal_worker, settings
) -> None:  # type: ignore[no-untyped-def]
    celery_worker = portal_worker
    base = settings.SITE_URL = live_server.url  # the links mailed point at this portal
    agent = UserFactory(username="agent", roles=["helpdesk_agent"])
    approver = UserFactory(username="approver", roles=["approver"])
    manager = UserFactory(username="giulia", email=MANAGER_UPN, roles=[])  # no staff role
    for user in (agent, approver, manager):
        enrol_totp(user)

    # the employee asks for help from a browser, signed in nowhere
    employee = person(browser)
    reference, code = employee_asks_for_help(employee, base)
    ticket = Ticket.objects.get(reference=reference)
    wait_until(
        lambda: Ticket.objects.get(pk=ticket.pk).directory_state == DirectoryState.FOUND,
        what="the directory lookup by the worker",
    )

    # the agent verifies the person in front of them and proposes the default plan
    agent_verifies(person(browser), base, agent, reference)
    ticket.refresh_from_db()
    assert ticket.status == Status.VERIFIED

    # the manager of record confirms through the mailed link
    manager_confirms(person(browser), manager, celery_worker)

    # a second person approves; the worker issues the TAP on the simulated tenant
    approver_approves(person(browser), base, approver, ticket)
    wait_until(
        lambda: Ticket.objects.get(pk=ticket.pk).status in (Status.EXECUTED, Status.FAILED),
        what="the execution by the worker",
    )
    ticket.refresh_from_db()
    assert ticket.status == Status.EXECUTED, celery_worker.log()[-2000:]
    methods = simtenant.user(UPN)["methods"]
    assert [m["type"] for m in methods if "emporary" in m["type"]], methods

    # the employee reveals the pass on the status page: once
    open_status(employee, base, reference, code)
    employee.get_by_role("button", name="Show my Temporary Access Pass").click()
    tap = employee.locator("#tap").inner_text().strip()
    assert len(tap) >= 8
    # … and a second time it is gone
    open_status(employee, base, reference, code)
    employee.get_by_role("button", name="Show my Temporary Access Pass").click()
    expect(employee.get_by_role("heading", level=1)).to_have_text("The pass cannot be shown")
    expect(employee.get_by_text(tap)).to_have_count(0)
    assert urlsplit(employee.url).path == "/status/reveal/"

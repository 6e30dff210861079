"""An auditor at a browser: signs in, finds a completed case, reads its record, downloads it."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import Page, expect

from audit.models import AuditEvent
from tests.browser.test_staff_sign_in import sign_in
from tests.conftest import totp_code

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_auditor_finds_a_case_reads_its_timeline_and_downloads_the_csv(
    page: Page, live_server, auditor, completed_case
) -> None:  # type: ignore[no-untyped-def]
    # given a completed case on record, and the auditor signing in with password and TOTP
    sign_in(page, live_server.url, "auditor")
    page.get_by_label(re.compile("Authenticator code|Code", re.I)).fill(totp_code(auditor))
    page.get_by_role("button", name=re.compile("Sign in|Confirm", re.I)).click()
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
    # when they look the account up
    page.get_by_label("Account (UPN)").fill("mario.rossi@contoso.example")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=completed_case).first.click()
    # then the case reads as its documentation record
    expect(page.get_by_role("heading", name=f"Case {completed_case}")).to_be_visible()
    record = page.locator("dl.case-record")
    expect(record).to_contain_text("Mario Rossi")
    expect(record).to_contain_text(re.compile(r"agent — video"))
    expect(record).to_contain_text("anna.bianchi@contoso.example")
    expect(record).to_contain_text(re.compile(r"Approved by\s+approver"))
    expect(record).to_contain_text("issue_tap · success · operation 41")
    expect(record).to_contain_text("Access restored")
    # when they go back to the case's events and download them
    page.get_by_role("link", name="Back to the audit trail").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    # then the file holds exactly the case's events, and the download is on the record
    with open(download.value.path(), encoding="utf-8") as handle:
        rows = list(csv.DictReader(io.StringIO(handle.read())))
    expected = AuditEvent.objects.filter(ticket_ref=completed_case).order_by("id")
    assert [int(r["id"]) for r in rows] == [e.pk for e in expected]
    assert download.value.suggested_filename.endswith(".csv")
    export = AuditEvent.objects.get(action="audit.exported")
    assert export.actor_label == "auditor" and export.data["filters"] == {"ticket": completed_case}

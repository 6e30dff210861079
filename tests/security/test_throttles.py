"""Throttles: guessing a staff password, a claim code or a mailed link's token stops being
possible after a few tries; rejected tokens are logged and audited without the token."""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta

import pytest
from django.core import signing
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from audit import log
from audit.actions import Action
from audit.models import AuditEvent
from tests.conftest import sign_in
from tests.factories import STAFF_PASSWORD
from tests.tickets.casework import last_link_token, make_manager, make_ticket, staff, verify
from tests.tickets.test_public_limits import DEAD_CACHES
from tickets import intake
from tickets.models import ManagerConfirmation, ManagerDecision, NotMeLink, Status, Ticket

NOT_ME_SALT = "tickets.intake.not_me"  # the link's signing salt (tickets/intake/not_me.py)

pytestmark = pytest.mark.django_db


def test_sign_in_is_throttled_after_repeated_failures_for_one_account(client, agent) -> None:  # type: ignore[no-untyped-def]
    # given five wrong passwords for the agent
    for attempt in range(5):
        response = client.post(
            "/accounts/login/", {"login": "agent", "password": f"wrong-{attempt}"}
        )
        assert response.status_code == 200
    # when the right password comes next
    response = client.post("/accounts/login/", {"login": "agent", "password": STAFF_PASSWORD})
    # then it is refused all the same
    assert b"Too many failed login attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_failed_sign_in_does_not_say_whether_the_account_exists(client, agent) -> None:  # type: ignore[no-untyped-def]
    known = client.post("/accounts/login/", {"login": "agent", "password": "wrong-password-1"})
    unknown = client.post("/accounts/login/", {"login": "nobody", "password": "wrong-password-1"})
    assert known.status_code == unknown.status_code == 200
    assert b"not correct" in known.content and b"not correct" in unknown.content


# --- Shared steps for the public pages and the mailed links -----------------------------------

ATTACKER = "203.0.113.66"
OTHER = "198.51.100.23"


def _file_request(client) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A request filed through the public form; its reference and claim code as shown."""
    form = {
        "full_name": "Mario Rossi",
        "upn": "mario.rossi@contoso.example",
        "department": "Sales",
        "urgency": "normal",
        "alternate_phone": "+33 6 12 34 56 78",
        "what_happened": "broken",
        "backup_enabled": "no",
        "preferred_verification": "in_person",
    }
    html = client.post(reverse("public_request_submit"), form, REMOTE_ADDR=OTHER).content.decode()
    reference = re.search(r'id="reference">([^<]+)<', html).group(1)  # type: ignore[union-attr]
    code = re.search(r'id="claim-code">([^<]+)<', html).group(1)  # type: ignore[union-attr]
    return reference, code


def _check(client, reference: str, code: str, ip: str = ATTACKER):  # type: ignore[no-untyped-def]
    data = {"reference": reference, "claim_code": code}
    return client.post(reverse("public_status_check"), data, REMOTE_ADDR=ip)


def _clear_throttle_counters() -> None:
    """What the end of the window does: django-ratelimit's counters (rl:…) leave Redis."""
    redis = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    keys = list(redis.scan_iter(match="*rl:*"))
    assert keys, "no throttle counter was found to clear"
    redis.delete(*keys)


@pytest.fixture
def dead_redis(settings):  # type: ignore[no-untyped-def]
    """The cache (the counters' store) pointed at a port where nothing answers."""
    settings.CACHES = DEAD_CACHES


def _forged(token: str) -> str:
    return token[:-2] + ("AA" if not token.endswith("AA") else "BB")


def _token_parts(token: str) -> list[str]:
    """The token and each of its signed parts (payload, timestamp, signature): none may leak."""
    return [token, *(part for part in token.split(":") if len(part) >= 6)]


def _rejections(purpose: str) -> list[AuditEvent]:
    events = AuditEvent.objects.filter(action=Action.LINK_REJECTED, data__purpose=purpose)
    return list(events.order_by("id"))


def _warnings(caplog) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "tickets.intake.throttle" and r.levelno == logging.WARNING
    ]


def _assert_no_token_in(texts: list[str], tokens: list[str]) -> None:
    for token in tokens:
        for part in _token_parts(token):
            for text in texts:
                assert part not in text


# --- Claim codes (the status page) ------------------------------------------------------------


def test_status_check_refuses_the_right_code_after_wrong_ones_from_one_address(
    client, settings
) -> None:  # type: ignore[no-untyped-def]
    # given a filed request and at most three code checks an hour from one address
    settings.RP_STATUS_RATE_PER_IP = "3/h"
    reference, code = _file_request(client)
    # when three wrong codes come from the attacker's address
    for _ in range(3):
        assert _check(client, reference, "ABCD-EFGH-JKMN-PQRS").status_code == 400
    # then even the right code is refused from there, and no status access is granted
    refused = _check(client, reference, code)
    assert refused.status_code == 429
    assert "Too many attempts" in refused.content.decode()
    assert client.get(reverse("public_status_case")).status_code == 302
    # while the owner, from another address, still gets in
    assert _check(client, reference, code, ip=OTHER).status_code == 302


def test_status_check_refuses_the_right_code_after_wrong_ones_on_one_reference(
    client, settings
) -> None:  # type: ignore[no-untyped-def]
    # given at most three code checks an hour on one reference
    settings.RP_STATUS_RATE_PER_REFERENCE = "3/h"
    reference, code = _file_request(client)
    # when three wrong codes come from three addresses
    for i in range(3):
        wrong = _check(client, reference, "ABCD-EFGH-JKMN-PQRS", ip=f"192.0.2.{i}")
        assert wrong.status_code == 400
    # then the right code is refused from yet another address
    assert _check(client, reference, code, ip="192.0.2.200").status_code == 429
    assert client.get(reverse("public_status_case")).status_code == 302


def test_status_check_fails_closed_when_redis_is_down(client, settings) -> None:  # type: ignore[no-untyped-def]
    # given a filed request, then the counter store gone
    reference, code = _file_request(client)
    settings.CACHES = DEAD_CACHES
    # when the right code is tried
    response = _check(client, reference, code)
    # then it is refused with the "unavailable" answer, and nothing is granted
    assert response.status_code == 429
    assert "cannot check codes right now" in response.content.decode()
    assert client.get(reverse("public_status_case")).status_code == 302


# --- The "this wasn't me" link ----------------------------------------------------------------


def _not_me_link(client) -> tuple[Ticket, str]:  # type: ignore[no-untyped-def]
    reference, _code = _file_request(client)
    ticket = Ticket.objects.get(reference=reference)
    token = intake.mint_not_me_token(ticket, recipient=NotMeLink.Recipient.ACCOUNT, sent_to="x")
    assert token is not None
    return ticket, token


def _open_not_me(client, token: str, ip: str = ATTACKER):  # type: ignore[no-untyped-def]
    return client.get(reverse("public_not_me"), {"t": token}, REMOTE_ADDR=ip)


def _report_not_me(client, token: str, ip: str = ATTACKER):  # type: ignore[no-untyped-def]
    return client.post(reverse("public_not_me_report"), {"t": token}, REMOTE_ADDR=ip)


def test_not_me_link_refuses_every_token_from_an_address_after_failed_ones(
    client, settings
) -> None:  # type: ignore[no-untyped-def]
    # given a mailed link and at most three failed link attempts an hour per address
    settings.RP_NOT_ME_LINK_RATE_PER_IP = "3/h"
    ticket, token = _not_me_link(client)
    # when three forged tokens come from the attacker's address
    for _ in range(3):
        assert _report_not_me(client, _forged(token)).status_code == 400
    # then the next forged one is refused with the throttle page
    limited = _open_not_me(client, _forged(token))
    assert limited.status_code == 429
    assert "Too many attempts" in limited.content.decode()
    # and even the valid token is refused from there, opened or posted, and not consumed
    assert _open_not_me(client, token).status_code == 429
    assert _report_not_me(client, token).status_code == 429
    assert NotMeLink.objects.get(ticket=ticket).used_at is None
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW
    # while another address opens it as usual
    assert _open_not_me(client, token, ip=OTHER).status_code == 200


def test_not_me_link_works_again_once_the_window_is_over(client, settings) -> None:  # type: ignore[no-untyped-def]
    # given an address that reached the limit of failed attempts
    settings.RP_NOT_ME_LINK_RATE_PER_IP = "2/h"
    ticket, token = _not_me_link(client)
    for _ in range(2):
        _open_not_me(client, _forged(token))
    assert _report_not_me(client, token).status_code == 429
    # when the window ends (its counters leave Redis)
    _clear_throttle_counters()
    # then the valid token, still unused, does its job from that same address
    assert _report_not_me(client, token).status_code == 200
    ticket.refresh_from_db()
    assert ticket.status == Status.FROZEN


def test_not_me_link_valid_clicks_do_not_count_against_the_limit(client, settings) -> None:  # type: ignore[no-untyped-def]
    # given a limit of one failed attempt an hour
    settings.RP_NOT_ME_LINK_RATE_PER_IP = "1/h"
    ticket, token = _not_me_link(client)
    # when the holder opens the link three times (and a mail scanner too), then confirms
    for _ in range(3):
        assert _open_not_me(client, token).status_code == 200
    response = _report_not_me(client, token)
    # then nothing slowed them down, and no rejection was recorded
    assert response.status_code == 200
    assert _rejections("not_me") == []


def test_not_me_link_rejections_are_logged_and_audited_with_reason_and_no_token(
    client, settings, caplog, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    # given a link used once, a forged one, one for a link that does not exist, an expired one
    ticket, token = _not_me_link(client)
    assert _report_not_me(client, token, ip=OTHER).status_code == 200
    forged = _forged(token)
    unknown = signing.dumps({"t": ticket.pk, "n": "no-such-nonce"}, salt=NOT_ME_SALT, compress=True)
    long_ago = time.time() - 30 * 24 * 3600
    monkeypatch.setattr(signing.time, "time", lambda: long_ago)
    expired = signing.dumps({"t": ticket.pk, "n": "old"}, salt=NOT_ME_SALT, compress=True)
    monkeypatch.undo()
    tokens = [token, forged, unknown, expired]
    # when each is tried from the attacker's address
    with caplog.at_level(logging.WARNING, logger="tickets.intake.throttle"):
        for attempt in (token, forged, unknown, expired):
            assert _open_not_me(client, attempt).status_code == 400
    # then each is one audit event, with its reason, the case only when the signature was good
    found = [(e.data["reason"], e.ticket_ref, e.outcome, e.ip) for e in _rejections("not_me")]
    ref = ticket.reference
    assert found == [
        ("replayed", ref, "denied", ATTACKER),
        ("bad_signature", "", "denied", ATTACKER),
        ("unknown", ref, "denied", ATTACKER),
        ("expired", ref, "denied", ATTACKER),
    ]
    # and one WARNING line each, naming reason and address
    lines = _warnings(caplog)
    assert [line for line in lines if "rejected" in line] == [
        f"not_me link rejected: replayed (ticket {ref}, client {ATTACKER})",
        f"not_me link rejected: bad_signature (ticket -, client {ATTACKER})",
        f"not_me link rejected: unknown (ticket {ref}, client {ATTACKER})",
        f"not_me link rejected: expired (ticket {ref}, client {ATTACKER})",
    ]
    # and neither the logs nor the audit trail (as the SIEM gets it) carry any token
    siem = [log.siem_line(event) for event in AuditEvent.objects.all()]
    _assert_no_token_in(lines + siem + [caplog.text], tokens)


def test_not_me_link_rejections_past_the_limit_make_one_audit_event_per_window(
    client, settings, caplog
) -> None:  # type: ignore[no-untyped-def]
    # given at most three failed attempts an hour per address
    settings.RP_NOT_ME_LINK_RATE_PER_IP = "3/h"
    _ticket, token = _not_me_link(client)
    # when ten forged tokens come from one address
    with caplog.at_level(logging.WARNING, logger="tickets.intake.throttle"):
        answers = [_open_not_me(client, _forged(token)).status_code for _ in range(10)]
    # then three were examined and refused, the rest throttled
    assert answers == [400] * 3 + [429] * 7
    # and the trail holds three rejections and one throttle event, not ten
    assert len(_rejections("not_me")) == 3
    throttled = AuditEvent.objects.filter(action=Action.LINK_THROTTLED)
    assert [(e.data, e.outcome) for e in throttled] == [
        ({"purpose": "not_me", "rate": "3/h"}, "denied")
    ]
    # while every refusal still has its log line
    refusals = [line for line in _warnings(caplog) if "refused before reading its token" in line]
    assert len(refusals) == 7
    # when the next window brings the same again
    _clear_throttle_counters()
    for _ in range(10):
        _open_not_me(client, _forged(token))
    # then it adds at most as much again
    assert len(_rejections("not_me")) == 6
    assert AuditEvent.objects.filter(action=Action.LINK_THROTTLED).count() == 2


def test_not_me_link_fails_closed_when_redis_is_down(client, dead_redis) -> None:  # type: ignore[no-untyped-def]
    # given a valid link, but no counter store
    ticket, token = _not_me_link(client)
    # when it is opened and posted
    opened, posted = _open_not_me(client, token), _report_not_me(client, token)
    # then both are refused with the "unavailable" answer, and the link is left unused
    assert opened.status_code == posted.status_code == 429
    assert "Links cannot be checked right now" in posted.content.decode()
    assert NotMeLink.objects.get(ticket=ticket).used_at is None
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW


# --- The manager's confirmation link ----------------------------------------------------------


@pytest.fixture
def waiting_case(db):  # type: ignore[no-untyped-def]
    """A case verified by an agent, the manager signed in elsewhere, and the mailed token."""
    manager = make_manager()
    ticket = make_ticket()
    verify(ticket, staff("verifier", ["helpdesk_agent"]))
    return {"ticket": ticket, "manager": manager, "token": last_link_token()}


def _open_manager(client, token: str, ip: str = ATTACKER):  # type: ignore[no-untyped-def]
    return client.get(reverse("manager_confirm"), {"t": token}, REMOTE_ADDR=ip)


def _decide(client, token: str, ip: str = ATTACKER):  # type: ignore[no-untyped-def]
    data = {"t": token, "decision": "confirm", "reason": "He called me from his desk."}
    return client.post(reverse("manager_decide"), data, REMOTE_ADDR=ip)


def test_manager_link_refuses_every_token_from_an_address_after_failed_ones(
    client, settings, waiting_case
) -> None:  # type: ignore[no-untyped-def]
    # given the manager signed in, and at most three failed link attempts an hour per address
    settings.RP_MANAGER_LINK_RATE_PER_IP = "3/h"
    sign_in(client, waiting_case["manager"])
    token = waiting_case["token"]
    # when three forged tokens come from one address
    for _ in range(3):
        assert _open_manager(client, _forged(token)).status_code == 404
    # then the next is throttled, and so is the valid token, opened or posted
    assert _decide(client, _forged(token)).status_code == 429
    limited = _open_manager(client, token)
    assert limited.status_code == 429
    assert "Too many attempts" in limited.content.decode()
    assert _decide(client, token).status_code == 429
    # and the confirmation is still waiting
    confirmation = ManagerConfirmation.objects.get(ticket=waiting_case["ticket"])
    assert confirmation.decision == ManagerDecision.PENDING
    # when the window ends
    _clear_throttle_counters()
    # then the valid token works from that same address
    assert _open_manager(client, token).status_code == 200
    assert _decide(client, token).status_code == 200
    confirmation.refresh_from_db()
    assert confirmation.decision == ManagerDecision.CONFIRMED


def test_manager_link_rejections_are_logged_and_audited_with_reason_and_no_token(
    client, settings, waiting_case, caplog
) -> None:  # type: ignore[no-untyped-def]
    # given the link used once by its manager
    sign_in(client, waiting_case["manager"])
    token, ref = waiting_case["token"], waiting_case["ticket"].reference
    assert _decide(client, token, ip=OTHER).status_code == 200
    forged = _forged(token)
    # when it is replayed and forged, posted and opened
    with caplog.at_level(logging.WARNING, logger="tickets.intake.throttle"):
        assert _decide(client, token).status_code == 404
        assert _open_manager(client, forged).status_code == 404
    # then each is one audit event with its reason, without the token
    found = [(e.data["reason"], e.ticket_ref, e.ip) for e in _rejections("manager")]
    assert found == [("replayed", ref, ATTACKER), ("bad_signature", "", ATTACKER)]
    lines = _warnings(caplog)
    assert lines == [
        f"manager link rejected: replayed (ticket {ref}, client {ATTACKER})",
        f"manager link rejected: bad_signature (ticket -, client {ATTACKER})",
    ]
    siem = [log.siem_line(event) for event in AuditEvent.objects.all()]
    _assert_no_token_in(lines + siem + [caplog.text], [token, forged])


def test_manager_link_past_its_lifetime_is_rejected_as_expired(
    client, waiting_case, caplog
) -> None:  # type: ignore[no-untyped-def]
    # given a link whose confirmation ran out
    sign_in(client, waiting_case["manager"])
    ManagerConfirmation.objects.filter(ticket=waiting_case["ticket"]).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    # when the manager opens it
    with caplog.at_level(logging.WARNING, logger="tickets.intake.throttle"):
        response = _open_manager(client, waiting_case["token"])
    # then it is refused and recorded as expired, for its case
    assert response.status_code == 404
    event = _rejections("manager")[0]
    assert (event.data["reason"], event.ticket_ref) == ("expired", waiting_case["ticket"].reference)
    _assert_no_token_in([caplog.text, log.siem_line(event)], [waiting_case["token"]])


def test_manager_link_fails_closed_when_redis_is_down(client, waiting_case, dead_redis) -> None:  # type: ignore[no-untyped-def]
    # given the manager signed in, and no counter store
    sign_in(client, waiting_case["manager"])
    # when the valid link is opened and posted
    opened, posted = (
        _open_manager(client, waiting_case["token"]),
        _decide(client, waiting_case["token"]),
    )
    # then both are refused with the "unavailable" answer, and the confirmation still waits
    assert opened.status_code == posted.status_code == 429
    assert "Links cannot be checked right now" in opened.content.decode()
    confirmation = ManagerConfirmation.objects.get(ticket=waiting_case["ticket"])
    assert confirmation.decision == ManagerDecision.PENDING

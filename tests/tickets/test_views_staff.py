from __future__ import annotations

import datetime as dt

import pytest
from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from graphops.models import GraphOperation, OpStatus
from tests.conftest import sign_in
from tests.factories import TicketFactory, UserFactory
from tests.tickets import casework
from tests.tickets.casework import make_ticket, reauthenticated, verify
from tickets import policy, workflow
from tickets.models import (
    Approval,
    ManagerConfirmation,
    RecoveryStep,
    Status,
    TapChannel,
    Ticket,
    Verification,
)

pytestmark = pytest.mark.django_db


def test_queue_lists_open_tickets_for_an_agent(mfa_client, agent) -> None:  # type: ignore[no-untyped-def]
    # given
    TicketFactory.create_batch(3)
    TicketFactory(status="closed", reference="RP-CLOSED1")
    client = mfa_client(agent)
    # when
    response = client.get("/staff/queue/")
    # then
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count("RP-T") == 3
    assert "RP-CLOSED1" not in body


def test_queue_query_count_does_not_grow_with_rows(mfa_client, agent, django_assert_num_queries):  # type: ignore[no-untyped-def]
    client = mfa_client(agent)
    TicketFactory.create_batch(2)
    client.get("/staff/queue/")  # warm the session
    with django_assert_num_queries(7) as few:
        client.get("/staff/queue/")
    TicketFactory.create_batch(20)
    with django_assert_num_queries(len(few.captured_queries)):
        client.get("/staff/queue/")


def test_queue_redirects_anonymous_to_sign_in(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/staff/queue/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_queue_is_forbidden_to_a_role_without_it(mfa_client, auditor) -> None:  # type: ignore[no-untyped-def]
    assert mfa_client(auditor).get("/staff/queue/").status_code == 403


def test_queue_is_forbidden_to_an_outsider(mfa_client, outsider) -> None:  # type: ignore[no-untyped-def]
    assert mfa_client(outsider).get("/staff/queue/").status_code == 403


def test_queue_rejects_post(mfa_client, agent) -> None:  # type: ignore[no-untyped-def]
    assert mfa_client(agent).post("/staff/queue/").status_code == 405


def test_staff_pages_require_mfa_enrolment(mfa_client, agent) -> None:  # type: ignore[no-untyped-def]
    # given an agent signed in with TOTP, whose authenticator was then removed
    client = mfa_client(agent)
    Authenticator.objects.filter(user=agent).delete()
    # when
    response = client.get("/staff/queue/")
    # then
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/2fa/totp/activate")


def test_no_self_signup(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/accounts/signup/",
        {
            "username": "eve",
            "email": "eve@evil.example",
            "password1": "x" * 20,
            "password2": "x" * 20,
        },
    )
    assert not get_user_model().objects.filter(username="eve").exists()
    assert response.status_code in (200, 302, 403)


# --- The case pages: access rules for every staff view ------------------------------------------

CASE_VIEWS = [
    ("get", "staff_ticket"),
    ("post", "staff_claim"),
    ("post", "staff_assign"),
    ("get", "staff_verify"),
    ("post", "staff_verify_submit"),
    ("post", "staff_approve"),
    ("post", "staff_flag_fraud"),
    ("post", "staff_close"),
    ("post", "staff_unfreeze"),
    ("post", "staff_retry"),
    ("post", "staff_reveal"),
]
ACTION_VIEWS = [v for v in CASE_VIEWS if v[1] != "staff_ticket"]


def _url(name: str, ticket) -> str:  # type: ignore[no-untyped-def]
    return reverse(name, args=[ticket.pk])


@pytest.mark.parametrize(("method", "name"), CASE_VIEWS)
def test_case_views_redirect_anonymous_to_sign_in(client, method, name) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket()
    response = getattr(client, method)(_url(name, ticket))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(("method", "name"), CASE_VIEWS)
def test_case_views_hide_the_case_from_an_outsider(mfa_client, outsider, method, name) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket()
    client = reauthenticated(mfa_client(outsider), outsider)
    assert getattr(client, method)(_url(name, ticket)).status_code == 404


@pytest.mark.parametrize(("method", "name"), ACTION_VIEWS)
def test_case_actions_are_forbidden_to_a_read_only_role(mfa_client, auditor, method, name) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket()
    client = reauthenticated(mfa_client(auditor), auditor)
    assert getattr(client, method)(_url(name, ticket)).status_code == 403


@pytest.mark.parametrize(("method", "name"), CASE_VIEWS)
def test_case_views_refuse_the_wrong_method(mfa_client, agent, method, name) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket()
    wrong = "post" if method == "get" else "get"
    assert getattr(mfa_client(agent), wrong)(_url(name, ticket)).status_code == 405


def test_ticket_page_shows_request_facts_and_timeline(mfa_client, agent) -> None:  # type: ignore[no-untyped-def]
    # given
    ticket = workflow.claim(make_ticket(), by=agent)
    duplicate = make_ticket(duplicate_of=ticket, reference="RP-DUP-0001")
    # when
    response = mfa_client(agent).get(_url("staff_ticket", ticket))
    # then
    body = response.content.decode()
    assert response.status_code == 200
    assert (
        "Controller" in body and casework.MANAGER_UPN in body and "microsoftAuthenticator" in body
    )
    assert duplicate.reference in body
    assert "Ticket claimed" in body and "ticket.claimed" in body
    assert AuditEvent.objects.filter(action="directory.viewed", actor_id=agent.pk).exists()


def test_ticket_page_is_readable_by_the_auditor_without_actions(mfa_client, auditor) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket()
    body = mfa_client(auditor).get(_url("staff_ticket", ticket)).content.decode()
    assert ticket.reference in body and "/claim/" not in body


def test_claim_view_assigns_the_case(mfa_client, agent) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket()
    response = mfa_client(agent).post(_url("staff_claim", ticket))
    assert response.status_code == 302 and response["Location"] == _url("staff_ticket", ticket)
    ticket.refresh_from_db()
    assert ticket.assigned_to == agent and ticket.status == Status.IN_VERIFICATION


def test_claim_view_shows_a_refusal_on_the_case_page(mfa_client) -> None:  # type: ignore[no-untyped-def]
    holder = casework.staff("mrossi", ["helpdesk_agent"], email="mario.rossi@contoso.example")
    ticket = make_ticket()
    client = mfa_client(holder)
    response = client.post(_url("staff_claim", ticket), follow=True)
    assert "your own account" in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW


def test_assign_view_hands_the_case_to_another_agent(mfa_client, agent, agent2) -> None:  # type: ignore[no-untyped-def]
    ticket = workflow.claim(make_ticket(), by=agent)
    mfa_client(agent).post(_url("staff_assign", ticket), {"to": agent2.pk})
    ticket.refresh_from_db()
    assert ticket.assigned_to == agent2


def test_verify_form_proposes_random_liveness_prompts(mfa_client, agent) -> None:  # type: ignore[no-untyped-def]
    ticket = workflow.claim(make_ticket(), by=agent)
    client = mfa_client(agent)
    first = client.get(_url("staff_verify", ticket)).content.decode()
    second = client.get(_url("staff_verify", ticket)).content.decode()
    assert "Say these words aloud" in first
    assert first.split('class="prompts"')[1][:400] != second.split('class="prompts"')[1][:400]
    assert (
        casework.TRUSTED_PHONE in first and ticket.alternate_phone not in first.split("Callback")[1]
    )


def test_verify_submit_records_a_video_verification_with_its_prompts(mfa_client, agent) -> None:  # type: ignore[no-untyped-def]
    # given the form as the page rendered it
    ticket = workflow.claim(make_ticket(), by=agent)
    client = mfa_client(agent)
    page = client.get(_url("staff_verify", ticket))
    form = page.context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None and v is not False}
    data.update(method="video_id", evidence="Passport checked on camera; face matched.")
    data["method_ids_to_remove"] = ["m-auth"]
    # when
    response = client.post(_url("staff_verify_submit", ticket), data)
    # then
    assert response.status_code == 302
    verification = Verification.objects.get(ticket=ticket)
    assert verification.liveness_prompts == page.context["prompts"]
    assert verification.method == "video_id"


def test_verify_submit_refuses_forged_prompts(mfa_client, agent) -> None:  # type: ignore[no-untyped-def]
    ticket = workflow.claim(make_ticket(), by=agent)
    client = mfa_client(agent)
    data = {
        "method": "video_id",
        "evidence": "Passport checked on camera; face matched.",
        "prompts": '["wave"]',
        "issue_tap": "on",
        "tap_lifetime_minutes": 60,
        "tap_usable_once": "on",
        "tap_channel": "requester",
        "remove_methods": "none",
    }
    response = client.post(_url("staff_verify_submit", ticket), data, follow=True)
    assert "liveness" in response.content.decode()
    assert not Verification.objects.exists()


def test_verify_submit_shows_plan_problems(mfa_client, agent) -> None:  # type: ignore[no-untyped-def]
    ticket = workflow.claim(make_ticket(), by=agent)
    data = {
        "method": "in_person",
        "evidence": "Badge checked at the desk, photo matches.",
        "tap_channel": "requester",
        "remove_methods": "none",
    }
    response = mfa_client(agent).post(_url("staff_verify_submit", ticket), data)
    assert response.status_code == 400
    assert "does nothing" in response.content.decode()


def _verified(agent):  # type: ignore[no-untyped-def]
    ticket = make_ticket()
    verify(ticket, agent)
    workflow.decide_as_manager(
        casework.last_link_token(), by=casework.make_manager(), confirm=True, reason="Ok"
    )
    return ticket


def test_approve_view_asks_for_recent_reauthentication(client, settings, agent, approver) -> None:  # type: ignore[no-untyped-def]
    # given an approver who signed in (password + TOTP) longer ago than the window
    ticket = _verified(agent)
    sign_in(client, approver, seconds_ago=settings.ACCOUNT_REAUTHENTICATION_TIMEOUT + 1)
    # when they approve
    response = client.post(_url("staff_approve", ticket), {"note": "ok"})
    # then their second factor is asked for again first, and nothing is recorded
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/2fa/reauthenticate/")
    assert not Approval.objects.exists()


def test_approve_view_right_after_sign_in_asks_nothing_more(mfa_client, agent, approver) -> None:  # type: ignore[no-untyped-def]
    # given an approver who signed in with password + TOTP a moment ago
    ticket = _verified(agent)
    # when they approve
    response = mfa_client(approver).post(_url("staff_approve", ticket), {"note": "ok"})
    # then the approval is recorded, with no second prompt
    assert response.status_code == 302 and response["Location"].startswith("/staff/tickets/")
    assert Approval.objects.filter(ticket=ticket, approver=approver).exists()


def test_approve_view_records_the_approval(mfa_client, agent, approver) -> None:  # type: ignore[no-untyped-def]
    ticket = _verified(agent)
    client = reauthenticated(mfa_client(approver), approver)
    response = client.post(_url("staff_approve", ticket), {"note": "Reviewed."})
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == Status.EXECUTING


def test_approve_view_refuses_the_verifier(mfa_client) -> None:  # type: ignore[no-untyped-def]
    both = casework.staff("both", ["helpdesk_agent", "approver"])
    ticket = _verified(both)
    client = reauthenticated(mfa_client(both), both)
    response = client.post(_url("staff_approve", ticket), follow=True)
    assert "second person" in response.content.decode()
    assert not Approval.objects.exists()


def test_approve_view_is_forbidden_to_an_agent(mfa_client, agent, agent2) -> None:  # type: ignore[no-untyped-def]
    ticket = _verified(agent)
    client = reauthenticated(mfa_client(agent2), agent2)
    assert client.post(_url("staff_approve", ticket)).status_code == 403


def test_flag_fraud_view_freezes_the_case(mfa_client, agent) -> None:  # type: ignore[no-untyped-def]
    ticket = workflow.claim(make_ticket(), by=agent)
    mfa_client(agent).post(_url("staff_flag_fraud", ticket), {"reason": "Voice sounded synthetic"})
    ticket.refresh_from_db()
    assert ticket.status == Status.FROZEN


def test_close_view_closes_the_case(mfa_client, agent) -> None:  # type: ignore[no-untyped-def]
    ticket = workflow.claim(make_ticket(), by=agent)
    client = reauthenticated(mfa_client(agent), agent)
    client.post(_url("staff_close", ticket), {"close-reason": "Solved with backup restore"})
    ticket.refresh_from_db()
    assert ticket.status == Status.CLOSED


def test_unfreeze_view_releases_a_frozen_case(mfa_client, agent, security) -> None:  # type: ignore[no-untyped-def]
    # given a claimed case, frozen
    ticket = workflow.claim(make_ticket(), by=agent)
    workflow.freeze(ticket, reason="Voice sounded synthetic", by=agent)
    client = reauthenticated(mfa_client(security), security)
    assert "/unfreeze/" in client.get(_url("staff_ticket", ticket)).content.decode()
    # when
    client.post(_url("staff_unfreeze", ticket), {"unfreeze-reason": "Called back: it was him"})
    # then
    ticket.refresh_from_db()
    assert ticket.status == Status.IN_VERIFICATION
    assert AuditEvent.objects.filter(action="ticket.unfrozen", actor_id=security.pk).exists()


def test_unfreeze_view_is_forbidden_to_an_agent(mfa_client, agent) -> None:  # type: ignore[no-untyped-def]
    # given
    ticket = workflow.claim(make_ticket(), by=agent)
    workflow.freeze(ticket, reason="Voice sounded synthetic", by=agent)
    client = reauthenticated(mfa_client(agent), agent)
    # when
    response = client.post(_url("staff_unfreeze", ticket), {"unfreeze-reason": "Looks fine"})
    # then
    assert response.status_code == 403
    ticket.refresh_from_db()
    assert ticket.status == Status.FROZEN
    assert "/unfreeze/" not in client.get(_url("staff_ticket", ticket)).content.decode()


def test_unfreeze_view_without_a_reason_leaves_the_case_frozen(mfa_client, security) -> None:  # type: ignore[no-untyped-def]
    # given
    ticket = make_ticket()
    workflow.freeze(ticket, reason="Not me", by=security)
    client = reauthenticated(mfa_client(security), security)
    # when
    response = client.post(_url("staff_unfreeze", ticket), {"unfreeze-reason": ""})
    # then
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == Status.FROZEN


def test_retry_view_sends_the_failed_step_again(mfa_client, agent, approver) -> None:  # type: ignore[no-untyped-def]
    ticket = _verified(agent)
    workflow.approve(ticket, by=approver)
    step = RecoveryStep.objects.get(ticket=ticket, position=0)
    op = GraphOperation.objects.get(pk=step.operation_id)
    casework.finish(op, status=OpStatus.FAILED, error="Gateway timeout", retryable=True)
    client = reauthenticated(mfa_client(agent), agent)
    page = client.get(_url("staff_ticket", ticket)).content.decode()
    assert "Gateway timeout" in page and "/retry/" in page
    client.post(_url("staff_retry", ticket))
    op.refresh_from_db()
    assert op.status == OpStatus.PENDING


def test_reveal_view_shows_the_agent_the_pass_once(mfa_client, agent, approver) -> None:  # type: ignore[no-untyped-def]
    # given an executed case whose pass goes to the verifying agent on the live call
    ticket = make_ticket()
    verify(
        ticket,
        agent,
        the_plan=casework.plan(tap_channel="agent", revoke_sessions=False, remove_methods="none"),
    )
    workflow.decide_as_manager(
        casework.last_link_token(), by=casework.make_manager(), confirm=True, reason="Ok"
    )
    workflow.approve(ticket, by=approver)
    op = GraphOperation.objects.get(correlation=ticket.reference, kind="issue_tap")
    casework.finish(op, result={"tap_id": "t1"}, secret="Secret-TAP-123")
    client = reauthenticated(mfa_client(agent), agent)
    # when
    first = client.post(_url("staff_reveal", ticket))
    second = client.post(_url("staff_reveal", ticket), follow=True)
    # then
    assert first.status_code == 200 and "Secret-TAP-123" in first.content.decode()
    assert first["Cache-Control"].startswith("no-store")
    assert "Secret-TAP-123" not in second.content.decode()
    assert "already shown" in second.content.decode()


# --- The manager's pages ------------------------------------------------------------------------


def _link(agent):  # type: ignore[no-untyped-def]
    ticket = make_ticket()
    verify(ticket, agent)
    return ticket, casework.last_link_token()


def test_manager_page_redirects_anonymous_to_sign_in(client, agent) -> None:  # type: ignore[no-untyped-def]
    _, token = _link(agent)
    response = client.get(reverse("manager_confirm"), {"t": token})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_manager_page_requires_mfa_even_without_a_role(client, agent) -> None:  # type: ignore[no-untyped-def]
    _, token = _link(agent)
    manager = UserFactory(username="giulia", email=casework.MANAGER_UPN, roles=[])
    client.force_login(manager)
    response = client.get(reverse("manager_confirm"), {"t": token})
    assert response.status_code == 302 and "/2fa/" in response["Location"]


def test_manager_page_is_forbidden_to_someone_else(mfa_client, agent, outsider) -> None:  # type: ignore[no-untyped-def]
    _, token = _link(agent)
    assert mfa_client(outsider).get(reverse("manager_confirm"), {"t": token}).status_code == 403


def test_manager_page_rejects_a_forged_link(mfa_client, agent) -> None:  # type: ignore[no-untyped-def]
    _link(agent)
    manager = casework.make_manager()
    response = mfa_client(manager).get(reverse("manager_confirm"), {"t": "forged:token"})
    assert response.status_code == 404


def test_manager_pages_refuse_the_wrong_method(mfa_client, agent) -> None:  # type: ignore[no-untyped-def]
    client = mfa_client(agent)
    assert client.post(reverse("manager_confirm")).status_code == 405
    assert client.get(reverse("manager_decide")).status_code == 405


def test_manager_decides_through_the_pages_once(mfa_client, agent) -> None:  # type: ignore[no-untyped-def]
    # given
    ticket, token = _link(agent)
    manager = casework.make_manager()
    client = mfa_client(manager)
    # when
    page = client.get(reverse("manager_confirm"), {"t": token})
    done = client.post(
        reverse("manager_decide"), {"t": token, "decision": "confirm", "reason": "He called me."}
    )
    replay = client.post(
        reverse("manager_decide"), {"t": token, "decision": "decline", "reason": "Again"}
    )
    # then
    assert page.status_code == 200 and ticket.full_name in page.content.decode()
    assert done.status_code == 200
    assert ManagerConfirmation.objects.get().decision == "confirmed"
    assert replay.status_code == 404


def test_manager_decide_by_someone_else_is_forbidden(mfa_client, agent, approver) -> None:  # type: ignore[no-untyped-def]
    _, token = _link(agent)
    response = mfa_client(approver).post(
        reverse("manager_decide"), {"t": token, "decision": "confirm", "reason": "Looks fine"}
    )
    assert response.status_code == 403
    assert ManagerConfirmation.objects.get().decision == "pending"


# --- The queue: filters, SLA, pagination --------------------------------------------------------


def test_queue_filters_by_flag_urgency_privilege_and_mine(mfa_client, agent) -> None:  # type: ignore[no-untyped-def]
    # given
    mine = workflow.claim(make_ticket(reference="RP-MINE-0001", urgency="high"), by=agent)
    make_ticket(reference="RP-FLAG-0001", flagged=True, is_privileged=True)
    make_ticket(reference="RP-LOW0-0001", urgency="low")
    client = mfa_client(agent)
    # when / then
    assert _refs(client, {"mine": "on"}) == {mine.reference}
    assert _refs(client, {"flagged": "on"}) == {"RP-FLAG-0001"}
    assert _refs(client, {"privileged": "yes"}) == {"RP-FLAG-0001"}
    assert _refs(client, {"urgency": "low"}) == {"RP-LOW0-0001"}
    assert _refs(client, {"status": "in_verification"}) == {mine.reference}


def test_queue_sorts_by_sla_due_and_shows_breaches(mfa_client, agent) -> None:  # type: ignore[no-untyped-def]
    # given a low-urgency case four days old and a fresh critical one
    old = make_ticket(reference="RP-OLD0-0001", urgency="low")
    four_days_ago = timezone.now() - dt.timedelta(days=4)
    Ticket.objects.filter(pk=old.pk).update(
        created_at=four_days_ago,
        sla_due_at=policy.current().sla_due_at("low", received_at=four_days_ago),
    )
    make_ticket(reference="RP-CRIT-0001", urgency="critical")
    make_ticket(reference="RP-NORM-0001", urgency="normal")
    # when
    body = mfa_client(agent).get("/staff/queue/").content.decode()
    # then the breached one comes first, then the critical one
    assert body.index("RP-OLD0-0001") < body.index("RP-CRIT-0001") < body.index("RP-NORM-0001")
    assert "late" in body


def test_queue_paginates_with_the_filters_kept(mfa_client, agent, settings) -> None:  # type: ignore[no-untyped-def]
    settings.RECOVERY_POLICY = {"queue_page_size": 5}
    TicketFactory.create_batch(7, urgency="high")
    client = mfa_client(agent)
    first = client.get("/staff/queue/", {"urgency": "high"}).content.decode()
    assert "urgency=high&amp;page=2" in first
    second = client.get("/staff/queue/", {"urgency": "high", "page": 2}).content.decode()
    assert second.count("RP-T") == 2


def test_queue_with_filters_keeps_its_query_count(
    mfa_client, agent, django_assert_num_queries
) -> None:  # type: ignore[no-untyped-def]
    client = mfa_client(agent)
    TicketFactory.create_batch(2, assigned_to=agent)
    params = {"mine": "on", "sort": "urgency", "age": "", "privileged": "no"}
    client.get("/staff/queue/", params)
    with django_assert_num_queries(6) as few:
        client.get("/staff/queue/", params)
    TicketFactory.create_batch(15, assigned_to=agent)
    with django_assert_num_queries(len(few.captured_queries)):
        client.get("/staff/queue/", params)


def _refs(client, params) -> set[str]:  # type: ignore[no-untyped-def]
    page = client.get("/staff/queue/", params).context["page"]
    return {t.reference for t in page.object_list}


# --- The requester's reveal on the status page (public) ----------------------------------------


def _ready_for_requester(agent, approver):  # type: ignore[no-untyped-def]
    from tickets import intake

    code = intake.new_claim_code()
    ticket = make_ticket(reference="RP-7K3M-Q9TX")  # the intake's reference format
    Ticket.objects.filter(pk=ticket.pk).update(
        claim_code_hash=intake.hash_claim_code(ticket.reference, code)
    )
    verify(ticket, agent, the_plan=casework.plan(revoke_sessions=False, remove_methods="none"))
    workflow.decide_as_manager(
        casework.last_link_token(), by=casework.make_manager(), confirm=True, reason="Ok"
    )
    workflow.approve(ticket, by=approver)
    op = GraphOperation.objects.get(correlation=ticket.reference, kind="issue_tap")
    casework.finish(op, result={"tap_id": "t1"}, secret="Requester-TAP-77")
    return ticket, code


def test_requester_reveal_shows_the_pass_once(client, agent, approver) -> None:  # type: ignore[no-untyped-def]
    # given
    ticket, code = _ready_for_requester(agent, approver)
    form = {"reference": ticket.reference, "claim_code": code}
    # when
    first = client.post(reverse("public_status_reveal"), form)
    second = client.post(reverse("public_status_reveal"), form)
    # then
    assert first.status_code == 200 and "Requester-TAP-77" in first.content.decode()
    assert "no-store" in first["Cache-Control"]
    assert second.status_code == 410 and "Requester-TAP-77" not in second.content.decode()


def test_requester_reveal_works_from_the_status_page_session(client, agent, approver) -> None:  # type: ignore[no-untyped-def]
    ticket, code = _ready_for_requester(agent, approver)
    client.post(reverse("public_status_check"), {"reference": ticket.reference, "claim_code": code})
    response = client.post(reverse("public_status_reveal"))
    assert response.status_code == 200 and "Requester-TAP-77" in response.content.decode()


def test_requester_reveal_refuses_a_wrong_claim_code(client, agent, approver) -> None:  # type: ignore[no-untyped-def]
    ticket, _ = _ready_for_requester(agent, approver)
    response = client.post(
        reverse("public_status_reveal"),
        {"reference": ticket.reference, "claim_code": "0000-0000-0000-0000"},
    )
    assert response.status_code == 404
    assert workflow.may_reveal(Ticket.objects.get(pk=ticket.pk), channel=TapChannel.REQUESTER)


def test_requester_reveal_refuses_get(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get(reverse("public_status_reveal")).status_code == 405

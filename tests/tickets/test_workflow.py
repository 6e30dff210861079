"""tickets.workflow: claim, verification, manager confirmation, the two-person rule."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from graphops.models import GraphOperation, Kind, OpStatus
from tests.tickets import casework
from tests.tickets.casework import make_manager, make_ticket, staff, verify
from tickets import workflow
from tickets.models import (
    Approval,
    ApprovalRole,
    ManagerConfirmation,
    ManagerDecision,
    RecoveryStep,
    Status,
    VerificationMethod,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(db):  # type: ignore[no-untyped-def]
    return make_manager()


def _confirmed(ticket, agent, manager):  # type: ignore[no-untyped-def]
    verification = verify(ticket, agent)
    workflow.decide_as_manager(
        casework.last_link_token(), by=manager, confirm=True, reason="I know, he called me."
    )
    return verification


# --- claim ----------------------------------------------------------------------------------


def test_claim_moves_a_new_ticket_into_verification_for_the_agent(agent) -> None:  # type: ignore[no-untyped-def]
    # given
    ticket = make_ticket()
    # when
    ticket = workflow.claim(ticket, by=agent)
    # then
    assert ticket.status == Status.IN_VERIFICATION
    assert ticket.assigned_to == agent
    assert AuditEvent.objects.filter(ticket_ref=ticket.reference, action="ticket.claimed").exists()


def test_claim_refuses_the_account_holder_and_records_the_refusal() -> None:
    # given a helpdesk agent whose own account is the one to recover
    ticket = make_ticket()
    holder = staff("mrossi", ["helpdesk_agent"], email="Mario.Rossi@contoso.example")
    # when / then
    with pytest.raises(workflow.DutyConflict):
        workflow.claim(ticket, by=holder)
    ticket.refresh_from_db()
    assert ticket.status == Status.NEW
    refusal = AuditEvent.objects.get(ticket_ref=ticket.reference, action="ticket.sod_refused")
    assert refusal.outcome == "denied" and refusal.data == {"rule": "account_holder"}


def test_claim_requires_the_agent_role(approver) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionDenied):
        workflow.claim(make_ticket(), by=approver)


# --- identity verification ----------------------------------------------------------------------


def test_verify_identity_records_the_round_and_mails_the_manager_a_link(agent) -> None:  # type: ignore[no-untyped-def]
    # given
    ticket = make_ticket()
    # when
    verification = verify(ticket, agent)
    # then
    ticket.refresh_from_db()
    assert ticket.status == Status.VERIFIED
    assert verification.verified_by == agent and verification.method == "in_person"
    assert verification.privileged is False
    confirmation = ManagerConfirmation.objects.get(verification=verification)
    assert confirmation.manager_upn == casework.MANAGER_UPN and not confirmation.routed_to_security
    [message] = [m for m in mail.outbox if casework.MANAGER_UPN in m.to]
    token = casework.last_link_token()
    assert token not in str(AuditEvent.objects.values_list("data", "reason"))
    assert confirmation.token_hash not in message.body


def test_verify_identity_refuses_an_agent_who_did_not_claim(agent, agent2) -> None:  # type: ignore[no-untyped-def]
    # given
    ticket = workflow.claim(make_ticket(), by=agent)
    # when / then
    with pytest.raises(workflow.TransitionRefused):
        workflow.verify_identity(
            ticket, by=agent2, evidence=casework.evidence(), plan=casework.plan()
        )


def test_verify_identity_refuses_a_callback_to_the_number_in_the_request(agent) -> None:  # type: ignore[no-untyped-def]
    # given
    ticket = workflow.claim(make_ticket(), by=agent)
    callback = casework.evidence(
        VerificationMethod.TRUSTED_CALLBACK, callback_number=ticket.alternate_phone
    )
    # when / then
    with pytest.raises(workflow.TransitionRefused, match="trusted record"):
        workflow.verify_identity(ticket, by=agent, evidence=callback, plan=casework.plan())


def test_verify_identity_accepts_a_callback_to_the_trusted_directory_number(agent) -> None:  # type: ignore[no-untyped-def]
    ticket = workflow.claim(make_ticket(), by=agent)
    callback = casework.evidence(
        VerificationMethod.TRUSTED_CALLBACK, callback_number=casework.TRUSTED_PHONE
    )
    verification = workflow.verify_identity(
        ticket, by=agent, evidence=callback, plan=casework.plan()
    )
    assert verification.callback_number == casework.TRUSTED_PHONE


def test_verify_identity_distrusts_a_cloud_only_profile_phone(agent) -> None:  # type: ignore[no-untyped-def]
    # given a profile phone the user could have edited themselves (not synced from HR/AD)
    facts = {**casework.FACTS, "user": {**casework.FACTS["user"], "onPremisesSyncEnabled": False}}
    ticket = workflow.claim(make_ticket(directory_facts=facts), by=agent)
    callback = casework.evidence(
        VerificationMethod.TRUSTED_CALLBACK, callback_number=casework.TRUSTED_PHONE
    )
    # when / then
    with pytest.raises(workflow.TransitionRefused):
        workflow.verify_identity(ticket, by=agent, evidence=callback, plan=casework.plan())


def test_verify_identity_refuses_a_video_call_without_liveness_prompts(agent) -> None:  # type: ignore[no-untyped-def]
    ticket = workflow.claim(make_ticket(), by=agent)
    with pytest.raises(workflow.TransitionRefused, match="liveness"):
        workflow.verify_identity(
            ticket,
            by=agent,
            evidence=casework.evidence(VerificationMethod.VIDEO_ID),
            plan=casework.plan(),
        )


def test_verify_identity_refuses_a_method_the_policy_does_not_accept(agent, settings) -> None:  # type: ignore[no-untyped-def]
    # given
    settings.RECOVERY_POLICY = {"verification_methods": ["video_id"]}
    ticket = workflow.claim(make_ticket(), by=agent)
    # when / then
    with pytest.raises(workflow.TransitionRefused, match="not accepted"):
        workflow.verify_identity(
            ticket, by=agent, evidence=casework.evidence(), plan=casework.plan()
        )


def test_verify_identity_keeps_the_tap_within_the_tenant_policy(agent) -> None:  # type: ignore[no-untyped-def]
    # given the tenant's TAP policy as read from Graph: 60–240 minutes, one-time only
    GraphOperation.objects.create(
        kind=Kind.READ_TAP_POLICY,
        status=OpStatus.SUCCEEDED,
        finished_at=timezone.now(),
        result={
            "policy": {
                "state": "enabled",
                "minimumLifetimeInMinutes": 60,
                "maximumLifetimeInMinutes": 240,
                "defaultLifetimeInMinutes": 60,
                "isUsableOnce": True,
            }
        },
    )
    ticket = workflow.claim(make_ticket(), by=agent)
    # when / then
    for bad in (casework.plan(tap_lifetime_minutes=480), casework.plan(tap_usable_once=False)):
        with pytest.raises(workflow.TransitionRefused):
            workflow.verify_identity(ticket, by=agent, evidence=casework.evidence(), plan=bad)


def test_verify_identity_routes_to_security_when_no_manager_is_on_record(agent, security) -> None:  # type: ignore[no-untyped-def]
    # given
    ticket = make_ticket(manager_upn="")
    # when
    verification = verify(ticket, agent)
    # then
    assert verification.manager_confirmation.routed_to_security
    assert any(security.email in m.to and "/staff/manager/" in m.body for m in mail.outbox)


# --- manager confirmation -----------------------------------------------------------------------


def test_decide_as_manager_confirms_with_the_signed_in_manager(agent, manager) -> None:  # type: ignore[no-untyped-def]
    # given
    ticket = make_ticket()
    verify(ticket, agent)
    # when
    confirmation = workflow.decide_as_manager(
        casework.last_link_token(), by=manager, confirm=True, reason="He called me this morning."
    )
    # then
    assert confirmation.decision == ManagerDecision.CONFIRMED
    assert confirmation.decided_by == manager


def test_decide_as_manager_compares_the_upn_case_insensitively(agent) -> None:  # type: ignore[no-untyped-def]
    manager = make_manager(email="Giulia.Bianchi@CONTOSO.example")
    ticket = make_ticket()
    verify(ticket, agent)
    confirmation = workflow.decide_as_manager(
        casework.last_link_token(), by=manager, confirm=True, reason="Yes, that's him."
    )
    assert confirmation.decision == ManagerDecision.CONFIRMED


def test_decide_as_manager_refuses_someone_else_signed_in(agent, approver) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket()
    verify(ticket, agent)
    with pytest.raises(workflow.DutyConflict):
        workflow.decide_as_manager(
            casework.last_link_token(), by=approver, confirm=True, reason="Looks fine."
        )
    assert ManagerConfirmation.objects.get().decision == ManagerDecision.PENDING


def test_decide_as_manager_refuses_a_forged_link(agent, manager) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket()
    verify(ticket, agent)
    token = casework.last_link_token()
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(workflow.LinkInvalid):
        workflow.decide_as_manager(forged, by=manager, confirm=True, reason="ok")


def test_decide_as_manager_refuses_a_replayed_link(agent, manager) -> None:  # type: ignore[no-untyped-def]
    # given a link already used
    ticket = make_ticket()
    verify(ticket, agent)
    token = casework.last_link_token()
    workflow.decide_as_manager(token, by=manager, confirm=True, reason="Yes.")
    # when / then
    with pytest.raises(workflow.LinkInvalid):
        workflow.decide_as_manager(token, by=manager, confirm=False, reason="Changed my mind.")


def test_decide_as_manager_refuses_an_expired_link(agent, manager) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket()
    verify(ticket, agent)
    ManagerConfirmation.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    with pytest.raises(workflow.LinkInvalid):
        workflow.decide_as_manager(
            casework.last_link_token(), by=manager, confirm=True, reason="Yes."
        )


def test_decide_as_manager_refuses_a_link_past_its_signed_age(agent, manager, settings) -> None:  # type: ignore[no-untyped-def]
    # given a link signed two hours ago under a one-hour policy
    settings.RECOVERY_POLICY = {"manager_link_hours": 1}
    ticket = make_ticket()
    verify(ticket, agent)
    token = casework.last_link_token()
    ManagerConfirmation.objects.update(expires_at=timezone.now() + dt.timedelta(days=1))
    import time as time_module

    real_time = time_module.time
    try:
        time_module.time = lambda: real_time() + 2 * 3600
        with pytest.raises(workflow.LinkInvalid):
            workflow.open_manager_link(token)
    finally:
        time_module.time = real_time


def test_decide_as_manager_decline_freezes_and_alerts_security(agent, manager, security) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket()
    verify(ticket, agent)
    with casework.committed():
        workflow.decide_as_manager(
            casework.last_link_token(), by=manager, confirm=False, reason="He is on holiday."
        )
    ticket.refresh_from_db()
    assert ticket.status == Status.FROZEN and ticket.flagged
    assert any(security.email in m.to and "frozen" in m.subject for m in mail.outbox)


def test_decide_as_manager_routed_to_security_needs_a_security_officer(
    agent, approver, security
) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket(manager_upn="")
    verify(ticket, agent)
    token = casework.last_link_token()
    with pytest.raises(PermissionDenied):
        workflow.decide_as_manager(token, by=approver, confirm=True, reason="ok")
    confirmation = workflow.decide_as_manager(token, by=security, confirm=True, reason="Checked.")
    assert confirmation.decision == ManagerDecision.CONFIRMED


# --- approval: the two-person rule --------------------------------------------------------------


def test_approve_after_manager_confirmation_starts_the_execution(agent, manager, approver) -> None:  # type: ignore[no-untyped-def]
    # given
    ticket = make_ticket()
    _confirmed(ticket, agent, manager)
    # when
    approval = workflow.approve(ticket, by=approver, note="Evidence reviewed.")
    # then
    ticket.refresh_from_db()
    assert approval.role == ApprovalRole.APPROVER
    assert ticket.status == Status.EXECUTING
    kinds = list(RecoveryStep.objects.filter(ticket=ticket).values_list("kind", flat=True))
    assert kinds == [Kind.REVOKE_SESSIONS, Kind.DELETE_METHODS, Kind.ISSUE_TAP]
    [queued] = GraphOperation.objects.filter(correlation=ticket.reference)
    assert queued.kind == Kind.REVOKE_SESSIONS and queued.status == OpStatus.PENDING


def test_approve_before_the_manager_waits_for_the_manager(agent, manager, approver) -> None:  # type: ignore[no-untyped-def]
    # given
    ticket = make_ticket()
    verify(ticket, agent)
    # when
    workflow.approve(ticket, by=approver)
    ticket.refresh_from_db()
    assert ticket.status == Status.VERIFIED
    workflow.decide_as_manager(casework.last_link_token(), by=manager, confirm=True, reason="Ok")
    # then
    ticket.refresh_from_db()
    assert ticket.status == Status.EXECUTING


def test_approve_rejects_the_verifier(manager) -> None:  # type: ignore[no-untyped-def]
    # given an agent who also holds the approver role verified the case
    both = staff("both", ["helpdesk_agent", "approver"])
    ticket = make_ticket()
    verify(ticket, both)
    # when / then
    with pytest.raises(workflow.DutyConflict):
        workflow.approve(ticket, by=both)
    assert not Approval.objects.exists()
    event = AuditEvent.objects.get(action="ticket.sod_refused")
    assert event.data == {"rule": "verifier_approving"} and event.actor_id == both.pk


def test_approve_rejects_the_account_holder_approving_their_own_case(agent) -> None:  # type: ignore[no-untyped-def]
    holder = staff("mrossi", ["approver"], email="mario.rossi@contoso.example")
    ticket = make_ticket()
    verify(ticket, agent)
    with pytest.raises(workflow.DutyConflict):
        workflow.approve(ticket, by=holder)


def test_approve_rejects_the_requester(agent) -> None:  # type: ignore[no-untyped-def]
    # given a staff member whose address the request gave as its contact
    requester = staff("friend", ["approver"], email=casework.REQUESTER_EMAIL.upper())
    ticket = make_ticket()
    verify(ticket, agent)
    with pytest.raises(workflow.DutyConflict):
        workflow.approve(ticket, by=requester)


def test_approve_rejects_self_approval_twice_by_one_person(agent, security) -> None:  # type: ignore[no-untyped-def]
    # given a privileged case: it needs an approver AND a security officer, two people
    ticket = make_ticket(is_privileged=True)
    verify(ticket, agent)
    workflow.approve(ticket, by=security)
    # when / then: the same officer cannot fill the second role too
    with pytest.raises(workflow.DutyConflict):
        workflow.approve(ticket, by=security)
    assert Approval.objects.count() == 1


def test_approve_rejects_the_security_officer_who_stood_in_for_the_manager(agent, security) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket(manager_upn="")
    verify(ticket, agent)
    workflow.decide_as_manager(casework.last_link_token(), by=security, confirm=True, reason="Ok")
    with pytest.raises(workflow.DutyConflict):
        workflow.approve(ticket, by=security)


def test_approve_requires_the_approver_role(agent, agent2) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket()
    verify(ticket, agent)
    with pytest.raises(PermissionDenied):
        workflow.approve(ticket, by=agent2)


def test_approve_of_a_privileged_case_needs_security_and_the_cooling_off(
    agent, manager, approver, security
) -> None:  # type: ignore[no-untyped-def]
    # given
    ticket = make_ticket(is_privileged=True)
    verification = _confirmed(ticket, agent, manager)
    # when the approver alone approves
    workflow.approve(ticket, by=approver)
    ticket.refresh_from_db()
    assert ticket.status == Status.VERIFIED
    # when security approves too: approved, but cooling off (60 minutes by default)
    workflow.approve(ticket, by=security)
    ticket.refresh_from_db()
    verification.refresh_from_db()
    assert ticket.status == Status.APPROVED
    assert verification.execute_after >= verification.verified_at + dt.timedelta(minutes=60)
    assert workflow.release_cooled_off() == 0
    # then once the delay is over the beat starts it
    assert workflow.release_cooled_off(now=verification.execute_after) == 1
    ticket.refresh_from_db()
    assert ticket.status == Status.EXECUTING


def test_approve_treats_an_unknown_privilege_as_privileged(agent, manager, approver) -> None:  # type: ignore[no-untyped-def]
    ticket = make_ticket(is_privileged=None)
    _confirmed(ticket, agent, manager)
    workflow.approve(ticket, by=approver)
    ticket.refresh_from_db()
    assert ticket.status == Status.VERIFIED
    assert workflow.missing_for_release(workflow.active_verification(ticket)) == ["security"]


# --- the database backs the rule ---------------------------------------------------------------


def _round(agent):  # type: ignore[no-untyped-def]
    ticket = make_ticket()
    return ticket, verify(ticket, agent)


def test_database_refuses_an_approval_by_the_verifier(agent) -> None:  # type: ignore[no-untyped-def]
    ticket, verification = _round(agent)
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.create(
            ticket=ticket,
            verification=verification,
            role="approver",
            approver=agent,
            verifier=agent,
            created_at=timezone.now(),
        )


def test_database_refuses_an_approval_with_a_false_verifier_copy(agent, agent2, approver) -> None:  # type: ignore[no-untyped-def]
    ticket, verification = _round(agent)
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.create(
            ticket=ticket,
            verification=verification,
            role="approver",
            approver=agent,
            verifier=agent2,
            created_at=timezone.now(),
        )


def test_database_refuses_an_approval_by_the_account_holder(agent) -> None:  # type: ignore[no-untyped-def]
    ticket, verification = _round(agent)
    holder = staff("mrossi", ["approver"], email="MARIO.ROSSI@contoso.example")
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.create(
            ticket=ticket,
            verification=verification,
            role="approver",
            approver=holder,
            verifier=agent,
            created_at=timezone.now(),
        )


def test_database_refuses_a_second_approval_for_the_same_role(agent, approver) -> None:  # type: ignore[no-untyped-def]
    ticket, verification = _round(agent)
    other = staff("approver2", ["approver"])
    for person in (approver, other):
        if person is other:
            with pytest.raises(IntegrityError), transaction.atomic():
                Approval.objects.create(
                    ticket=ticket,
                    verification=verification,
                    role="approver",
                    approver=person,
                    verifier=agent,
                    created_at=timezone.now(),
                )
        else:
            Approval.objects.create(
                ticket=ticket,
                verification=verification,
                role="approver",
                approver=person,
                verifier=agent,
                created_at=timezone.now(),
            )


def test_database_keeps_approvals_append_only(agent, approver) -> None:  # type: ignore[no-untyped-def]
    ticket, verification = _round(agent)
    approval = Approval.objects.create(
        ticket=ticket,
        verification=verification,
        role="approver",
        approver=approver,
        verifier=agent,
        created_at=timezone.now(),
    )
    with pytest.raises(Exception, match="approval_append_only|Cannot"), transaction.atomic():
        Approval.objects.filter(pk=approval.pk).update(note="changed")


def test_decide_as_manager_accepts_the_manager_signed_in_through_entra(agent) -> None:  # type: ignore[no-untyped-def]
    # given a manager whose portal account is linked to their Entra identity (another e-mail)
    from allauth.socialaccount.models import SocialAccount

    manager = make_manager(email="g.bianchi@subsidiary.example", username="gbianchi")
    SocialAccount.objects.create(
        user=manager,
        provider="microsoft",
        uid="entra-oid-1",
        extra_data={"userPrincipalName": "Giulia.Bianchi@contoso.example"},
    )
    ticket = make_ticket()
    verify(ticket, agent)
    # when
    confirmation = workflow.decide_as_manager(
        casework.last_link_token(), by=manager, confirm=True, reason="Yes, that is Mario."
    )
    # then
    assert confirmation.decided_by == manager


def test_decide_as_manager_ignores_an_unverified_address_added_by_the_user(agent) -> None:  # type: ignore[no-untyped-def]
    # given a staff member who added the manager's address to their account, unverified
    from allauth.account.models import EmailAddress

    impostor = make_manager(email="eve@contoso.example", username="eve")
    EmailAddress.objects.create(user=impostor, email=casework.MANAGER_UPN, verified=False)
    ticket = make_ticket()
    verify(ticket, agent)
    # when / then
    with pytest.raises(workflow.DutyConflict):
        workflow.decide_as_manager(
            casework.last_link_token(), by=impostor, confirm=True, reason="Trust me."
        )


def test_unfreeze_hands_a_frozen_verified_case_back_for_a_new_round(agent, security) -> None:  # type: ignore[no-untyped-def]
    # given a verified case, frozen by a "this wasn't me"
    ticket = make_ticket()
    verify(ticket, agent)
    ticket = workflow.report_not_me(ticket)
    # when a security officer releases it
    ticket = workflow.unfreeze(ticket, by=security, reason="The holder called: his own request")
    # then the agent verifies again; the release is on the record with its reason
    assert ticket.status == Status.IN_VERIFICATION and not ticket.flagged
    assert workflow.active_verification(ticket) is None
    event = AuditEvent.objects.get(action="ticket.unfrozen")
    assert event.reason == "The holder called: his own request" and event.actor_id == security.pk


def test_unfreeze_returns_an_unclaimed_case_to_new(security) -> None:  # type: ignore[no-untyped-def]
    ticket = workflow.freeze(make_ticket(), reason="Fraud suspected", by=security)
    assert workflow.unfreeze(ticket, by=security, reason="Reviewed").status == Status.NEW


def test_unfreeze_requires_the_security_role(agent) -> None:  # type: ignore[no-untyped-def]
    ticket = workflow.freeze(make_ticket(), reason="Fraud suspected", by=agent)
    with pytest.raises(PermissionDenied):
        workflow.unfreeze(ticket, by=agent, reason="Looks fine")


def test_unfreeze_requires_a_reason(security) -> None:  # type: ignore[no-untyped-def]
    ticket = workflow.freeze(make_ticket(), reason="Fraud suspected", by=security)
    with pytest.raises(workflow.TransitionRefused):
        workflow.unfreeze(ticket, by=security, reason="  ")


def test_unfreeze_refuses_a_case_that_is_not_frozen(security) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(workflow.TransitionRefused):
        workflow.unfreeze(make_ticket(), by=security, reason="Reviewed")

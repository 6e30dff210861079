"""The ledger's public API: request, reveal once, retry; the finished signal."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from audit.models import AuditEvent
from graphops import ledger, operations
from graphops.models import GraphOperation, Kind, OpStatus
from graphops.signals import operation_finished
from tests.conftest import enrol_totp, sign_in
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

UPN = "mario.rossi@contoso.example"


def _issued_tap(*, value: str = "Tap-Value-123") -> GraphOperation:
    operation = operations.request_operation(Kind.ISSUE_TAP, target_upn=UPN, correlation="RP-1")
    claimed = ledger.claim(str(operation.pk))
    assert claimed is not None
    return ledger.succeed(
        claimed, success=ledger.Success(result={"tap_id": "t1"}, secret=value, request_ids=["r1"])
    )


def test_request_operation_records_row_and_audit_event():
    # given
    agent = UserFactory(username="graph-agent")
    # when
    operation = operations.request_operation(
        Kind.LOOKUP_USER, target_upn=UPN, correlation="RP-T000001", requested_by=agent
    )
    # then
    assert operation.status == OpStatus.PENDING
    assert operation.attempts == 0
    event = AuditEvent.objects.get(action="graph.requested")
    assert event.ticket_ref == "RP-T000001"
    assert event.data["operation_id"] == str(operation.pk)
    assert event.actor_id == agent.pk


def test_request_operation_ca_exclusion_records_its_removal(settings):
    # given
    settings.CA_EXCLUSION_GROUP_ID = "group-1"
    # when
    add = operations.request_operation(
        Kind.ADD_CA_EXCLUSION, target_upn=UPN, params={"minutes": 30}
    )
    # then
    removal = GraphOperation.objects.get(kind=Kind.REMOVE_CA_EXCLUSION)
    assert removal.params["add_operation_id"] == str(add.pk)
    assert removal.params["group_id"] == "group-1"
    assert removal.not_before is not None
    assert ledger.claim(str(removal.pk)) is None  # not due yet


def test_request_operation_refuses_missing_target():
    # when / then
    with pytest.raises(operations.InvalidRequest):
        operations.request_operation(Kind.ISSUE_TAP, target_upn="")


def test_claim_duplicate_delivery_is_a_noop():
    # given
    operation = operations.request_operation(Kind.LOOKUP_USER, target_upn=UPN)
    # when
    first = ledger.claim(str(operation.pk))
    second = ledger.claim(str(operation.pk))
    # then
    assert first is not None and first.status == OpStatus.RUNNING and first.attempts == 1
    assert second is None


def test_reveal_secret_returns_value_once_and_wipes_it():
    # given
    operation = _issued_tap(value="Secret-Tap-42")
    assert operation.secret_ciphertext and "Secret-Tap-42" not in operation.secret_ciphertext
    # when
    value = operations.reveal_secret(operation)
    # then
    assert value == "Secret-Tap-42"
    operation.refresh_from_db()
    assert operation.secret_ciphertext == ""
    assert operation.secret_revealed_at is not None
    with pytest.raises(operations.SecretAlreadyRevealed):
        operations.reveal_secret(operation)
    assert AuditEvent.objects.filter(action="graph.tap_revealed").count() == 1
    assert not any("Secret-Tap-42" in str(e.data) for e in AuditEvent.objects.all())


def test_reveal_secret_refuses_operation_without_secret():
    # given
    operation = operations.request_operation(Kind.LOOKUP_USER, target_upn=UPN)
    # when / then
    with pytest.raises(operations.SecretUnavailable):
        operations.reveal_secret(operation)


def test_operation_finished_is_sent_after_commit(django_capture_on_commit_callbacks):
    # given
    received: list[GraphOperation] = []

    def receiver(sender, operation, **kwargs):  # type: ignore[no-untyped-def]
        received.append(operation)

    operation_finished.connect(receiver)
    operation = operations.request_operation(Kind.REVOKE_SESSIONS, target_upn=UPN)
    claimed = ledger.claim(str(operation.pk))
    assert claimed is not None
    try:
        # when
        with django_capture_on_commit_callbacks(execute=True):
            ledger.fail(claimed, code="Authorization_RequestDenied", message="no permission")
        # then
        assert [op.pk for op in received] == [operation.pk]
        assert received[0].status == OpStatus.FAILED
    finally:
        operation_finished.disconnect(receiver)


def test_retry_needs_the_permission():
    # given
    operation = operations.request_operation(Kind.LIST_METHODS, target_upn=UPN)
    claimed = ledger.claim(str(operation.pk))
    assert claimed is not None
    ledger.fail(claimed, code="ServiceUnavailable", message="down", retryable=True)
    nobody = UserFactory(username="no-perm")
    # when / then
    with pytest.raises(operations.RetryRefused):
        operations.retry(operation, by=nobody)


def test_retry_moves_failed_retryable_back_to_pending():
    # given
    operation = operations.request_operation(Kind.LIST_METHODS, target_upn=UPN)
    claimed = ledger.claim(str(operation.pk))
    assert claimed is not None
    ledger.fail(claimed, code="ServiceUnavailable", message="down", retryable=True)
    officer = UserFactory(username="officer")
    officer.user_permissions.add(Permission.objects.get(codename="retry_graphoperation"))
    # when
    retried = operations.retry(operation, by=officer)
    # then
    assert retried.status == OpStatus.PENDING
    assert AuditEvent.objects.filter(action="graph.retry").count() == 1


def test_retry_refuses_a_permanent_failure():
    # given
    operation = operations.request_operation(Kind.LIST_METHODS, target_upn=UPN)
    claimed = ledger.claim(str(operation.pk))
    assert claimed is not None
    ledger.fail(claimed, code="Request_ResourceNotFound", message="no such user")
    officer = UserFactory(username="officer2", is_superuser=True)
    # when / then
    with pytest.raises(operations.RetryRefused):
        operations.retry(operation, by=officer)


def test_admin_lists_the_ledger_without_the_sealed_secret(client, admin_user):
    # given: a superuser past the MFA stage
    enrol_totp(admin_user)
    admin_client = sign_in(client, admin_user)
    operation = _issued_tap(value="Secret-Tap-77")
    # when
    listing = admin_client.get("/admin/graphops/graphoperation/")
    detail = admin_client.get(f"/admin/graphops/graphoperation/{operation.pk}/change/")
    # then
    assert listing.status_code == 200 and operation.target_upn in listing.content.decode()
    assert detail.status_code == 200
    assert operation.secret_ciphertext not in detail.content.decode()


def test_the_workers_outcome_is_the_systems_on_behalf_of_who_asked():
    # given a manager's containment request (revoke sessions), carried out by the worker
    manager = UserFactory(username="anna.bianchi")
    operation = operations.request_operation(
        Kind.REVOKE_SESSIONS, target_upn=UPN, correlation="RP-T000002", requested_by=manager
    )
    claimed = ledger.claim(str(operation.pk))
    assert claimed is not None
    # when the worker records the outcome
    ledger.succeed(claimed, success=ledger.Success(result={}, request_ids=["r1"]))
    # then the request is the manager's, the revocation the system's on the manager's behalf
    asked = AuditEvent.objects.get(action="graph.requested")
    done = AuditEvent.objects.get(action="graph.revoke_sessions")
    assert (asked.actor_kind, asked.actor_label) == ("person", "anna.bianchi")
    assert (done.actor_kind, done.actor_id, done.actor_label) == ("system", None, "")
    assert (done.on_behalf_of_id, done.on_behalf_of_label) == (manager.pk, "anna.bianchi")
    assert done.who == "System (on behalf of anna.bianchi)"

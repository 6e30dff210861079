"""The public API of graphops: ask for a Graph operation, reveal a TAP once, retry.

Callers outside graphops (tickets, the benchmarks) import this module for every change,
``graphops.models`` to read rows (``GraphOperation``, ``Kind``, ``OpStatus``; only graphops writes
them) and ``graphops.signals`` to follow outcomes (``operation_finished``); nothing else of
graphops (tests/test_import_graph.py holds tickets to it).

Parameters per kind (``params``) and what lands in ``result`` (never a secret):

- DIRECTORY_LOOKUP: {} → {"user": {...}, "manager": {...} | None, "is_privileged": bool,
  "privileged_roles": [{"id", "templateId", "displayName", "via"}], "methods": [...]}
- LOOKUP_USER: {} → {"user": {"id", "userPrincipalName", "displayName", "accountEnabled",
  "department", "jobTitle", "employeeId", "mail", "onPremisesSyncEnabled"}}
- GET_MANAGER: {} → {"manager": {"id", "displayName", "userPrincipalName", "mail"} | None}
- CHECK_PRIVILEGED: {} → {"is_privileged": bool, "privileged_roles": [...]}
- LIST_METHODS: {} → {"methods": [{"id", "type", "displayName", "createdDateTime", ...}]}
- ISSUE_TAP: {"lifetime_minutes": int?, "one_time": bool?, "start_at": iso?} →
  {"tap_id", "created_at", "start_at", "lifetime_minutes", "is_usable_once", "expires_at",
  "policy": {...}}; the pass itself only through ``reveal_secret``.
- DELETE_METHODS: {"method_ids": [...]} and/or {"method_types": ["phone", "microsoftAuthenticator",
  "softwareOath", "fido2", "email", "windowsHelloForBusiness", "temporaryAccessPass"]} →
  {"deleted": [...], "already_gone": [...], "refused": [{"id", "type", "reason"}]}
- REQUIRE_REREGISTRATION: {} → like DELETE_METHODS, for phones, Authenticator apps and software
  OATH tokens (Graph has no "require re-register MFA" call: this is the portal button's effect).
- REVOKE_SESSIONS: {} → {"revoked": true}
- ADD_CA_EXCLUSION: {"minutes": int?, "group_id": str?} → {"group_id", "expires_at"}.
  Requesting it also records the REMOVE_CA_EXCLUSION row due at expiry (see below).
- REMOVE_CA_EXCLUSION: {"group_id": str?} → {"group_id", "removed": bool}
- READ_TAP_POLICY: {} (target_upn may be "") →
  {"policy": {"state", "defaultLifetimeInMinutes", ...}}
- CHECK_NEW_METHODS: {"since": iso, "tap_id": str?} → {"new_methods": [...],
  "has_new_method": bool, "tap": {...} | None, "tap_expired_unused": bool}
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit import log
from audit.actions import Action
from graphops import dispatch, sealing
from graphops.models import GraphOperation, Kind, OpStatus


class GraphOpsError(Exception):
    """Base of the errors graphops raises to its callers."""


class SecretUnavailable(GraphOpsError):
    """There is no secret to reveal: not a TAP, not issued (yet), or wiped at expiry."""


class SecretAlreadyRevealed(SecretUnavailable):
    """The TAP was revealed before; it is shown exactly once."""


class RetryRefused(GraphOpsError):
    """The operation is not in a state a person may retry, or the person may not retry it."""


class InvalidRequest(GraphOpsError):
    """The operation asked for cannot be recorded (missing target, bad parameters)."""


@transaction.atomic
def request_operation(
    kind: Kind | str,
    *,
    target_upn: str,
    params: dict[str, Any] | None = None,
    correlation: str = "",
    requested_by: AbstractBaseUser | None = None,
    target_user_id: str = "",
    not_before: dt.datetime | None = None,
) -> GraphOperation:
    """Record a Graph operation and queue it for a worker (after commit).

    ``correlation`` is free text the caller finds its row by (e.g. the ticket reference); it is
    also the audit events' ticket reference. ``not_before`` delays the first attempt (e.g. a
    follow-up check). Side effects: an audit event in this transaction; the task after commit.
    For ADD_CA_EXCLUSION the matching REMOVE_CA_EXCLUSION row is recorded now, due at expiry,
    so the exclusion ends even if every process crashes in between.
    """
    kind = Kind(kind)
    params = dict(params or {})
    _validate(kind, target_upn=target_upn, params=params)
    operation = _create(
        kind,
        target_upn=target_upn,
        params=params,
        correlation=correlation,
        requested_by=requested_by,
        target_user_id=target_user_id,
        not_before=not_before,
    )
    if kind == Kind.ADD_CA_EXCLUSION:
        _create(
            Kind.REMOVE_CA_EXCLUSION,
            target_upn=target_upn,
            params={"group_id": params["group_id"], "add_operation_id": str(operation.pk)},
            correlation=correlation,
            requested_by=requested_by,
            target_user_id=target_user_id,
            not_before=dt.datetime.fromisoformat(params["expires_at"]),
        )
    return operation


def _validate(kind: Kind, *, target_upn: str, params: dict[str, Any]) -> None:
    if kind != Kind.READ_TAP_POLICY and not target_upn:
        raise InvalidRequest(f"{kind.label} needs a target user.")
    if kind == Kind.ADD_CA_EXCLUSION:
        minutes = int(params.get("minutes") or settings.CA_EXCLUSION_DEFAULT_MINUTES)
        if not 1 <= minutes <= settings.CA_EXCLUSION_MAX_MINUTES:
            raise InvalidRequest(
                f"A Conditional Access exclusion lasts 1 to "
                f"{settings.CA_EXCLUSION_MAX_MINUTES} minutes."
            )
        params["minutes"] = minutes
        params["expires_at"] = (timezone.now() + dt.timedelta(minutes=minutes)).isoformat()
    if kind in (Kind.ADD_CA_EXCLUSION, Kind.REMOVE_CA_EXCLUSION):
        params.setdefault("group_id", settings.CA_EXCLUSION_GROUP_ID)
        if not params["group_id"]:
            raise InvalidRequest("No Conditional Access exclusion group is configured.")
    if kind == Kind.CHECK_NEW_METHODS and "since" not in params:
        raise InvalidRequest("CHECK_NEW_METHODS needs params['since'] (ISO 8601).")


def _create(kind: Kind, **fields: Any) -> GraphOperation:
    operation = GraphOperation.objects.create(kind=kind, **fields)
    log.record(
        Action.GRAPH_REQUESTED,
        actor=fields["requested_by"],
        ticket_ref=fields["correlation"][:32],
        subject=fields["target_upn"],
        data={"operation_id": str(operation.pk), "kind": kind.value, "params": fields["params"]},
    )
    dispatch.enqueue_after_commit(operation)
    return operation


@transaction.atomic
def reveal_secret(operation: GraphOperation, *, by: AbstractBaseUser | None = None) -> str:
    """Decrypt the TAP of a succeeded ISSUE_TAP and wipe it, in one transaction: exactly once.

    The row is locked (SELECT … FOR UPDATE), so two concurrent reveals cannot both win.
    Raises SecretAlreadyRevealed the second time, SecretUnavailable when there is nothing to
    reveal. Side effect: an audit event (without the value).
    """
    locked = GraphOperation.objects.select_for_update().get(pk=operation.pk)
    if locked.secret_revealed_at is not None:
        raise SecretAlreadyRevealed("This Temporary Access Pass was already shown once.")
    if locked.kind != Kind.ISSUE_TAP or not locked.secret_ciphertext:
        raise SecretUnavailable("There is no Temporary Access Pass to show for this operation.")
    value = sealing.unseal(locked.secret_ciphertext)
    now = timezone.now()
    GraphOperation.objects.filter(pk=locked.pk).update(
        secret_ciphertext="", secret_revealed_at=now, updated_at=now
    )
    log.record(
        Action.GRAPH_TAP_REVEALED,
        actor=by,
        ticket_ref=locked.correlation[:32],
        subject=locked.target_upn,
        data={"operation_id": str(locked.pk), "tap_id": locked.result.get("tap_id", "")},
    )
    operation.refresh_from_db()
    return value


@transaction.atomic
def retry(operation: GraphOperation, *, by: AbstractBaseUser) -> GraphOperation:
    """A person sends a FAILED (retryable) or NEEDS_REVIEW row back to PENDING.

    Precondition: ``by`` has ``graphops.retry_graphoperation``. For an ISSUE_TAP in
    NEEDS_REVIEW this is the human decision to issue a new pass (replacing any pass the
    earlier attempt may have created). Compare-and-swap on the status; audit event; task after
    commit.
    """
    if not by.has_perm("graphops.retry_graphoperation"):  # type: ignore[attr-defined]
        raise RetryRefused("You may not retry Graph operations.")
    allowed = GraphOperation.objects.filter(
        Q(status=OpStatus.NEEDS_REVIEW) | Q(status=OpStatus.FAILED, retryable=True),
        pk=operation.pk,
    )
    previous = operation.status
    moved = allowed.update(
        status=OpStatus.PENDING, not_before=None, finished_at=None, updated_at=timezone.now()
    )
    if moved != 1:
        operation.refresh_from_db()
        raise RetryRefused(
            f"This operation is {operation.get_status_display()}; it cannot be retried."
        )
    operation.refresh_from_db()
    log.record(
        Action.GRAPH_RETRY,
        actor=by,
        ticket_ref=operation.correlation[:32],
        subject=operation.target_upn,
        data={"operation_id": str(operation.pk), "kind": operation.kind, "from": previous},
    )
    dispatch.enqueue_after_commit(operation)
    return operation

"""Carries out one claimed operation against Graph: one executor per kind.

Each runs its Graph calls in one event loop (``client.run``) and returns ``ledger.Success``,
or raises ``errors.Transient`` / ``errors.Permanent`` / ``errors.Uncertain``. An executor
registers itself for its kind with ``@executes(Kind.X)``: a new kind is its ``Kind`` member and
its executor here, nothing else (its Celery task is generated from the kind, ``graphops.tasks``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
from django.utils import timezone
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from graphops import calls, client, errors, ledger
from graphops.client import Session
from graphops.models import GraphOperation, Kind
from graphops.payloads import (
    PHONE_ORDER,
    REREGISTRATION_TYPES,
    MethodFacts,
    TapFacts,
    TapPolicyFacts,
    UserFacts,
)

# Graph's clock and ours may differ a little; a TAP created this long before our POST started
# still counts as "possibly ours" when a crashed attempt is checked.
CLOCK_SKEW = dt.timedelta(minutes=2)
NOT_DELETABLE = ("password", "temporaryAccessPass")


Executor = Callable[[GraphOperation], ledger.Success]
EXECUTORS: dict[Kind, Executor] = {}


class DuplicateExecutor(Exception):
    """A second executor was registered for a kind that has one."""


def executes(kind: Kind) -> Callable[[Executor], Executor]:
    """Register the decorated function as the one executor of ``kind``."""

    def register(executor: Executor) -> Executor:
        if kind in EXECUTORS:
            raise DuplicateExecutor(f"{kind} is carried out by {EXECUTORS[kind].__name__}")
        EXECUTORS[kind] = executor
        return executor

    return register


def execute(operation: GraphOperation) -> ledger.Success:
    return EXECUTORS[Kind(operation.kind)](operation)


def _run(operation: GraphOperation, work: Callable[[Session], Any]) -> tuple[Any, list[str]]:
    return client.run(work, client_request_id=str(operation.pk))


def _key(operation: GraphOperation) -> str:
    return operation.target_user_id or operation.target_upn


# --- Reads ---------------------------------------------------------------------------------


@executes(Kind.DIRECTORY_LOOKUP)
def directory_lookup(operation: GraphOperation) -> ledger.Success:
    async def work(s: Session) -> dict[str, Any]:
        user = await calls.get_user(s, _key(operation))
        roles = await calls.privileged_roles(s, user["id"])
        return {
            "user": user,
            "manager": await calls.get_manager(s, user["id"]),
            "is_privileged": bool(roles),
            "privileged_roles": roles,
            "methods": await calls.list_methods(s, user["id"]),
        }

    result, ids = _run(operation, work)
    return ledger.Success(result=result, request_ids=ids, target_user_id=result["user"]["id"])


@executes(Kind.LOOKUP_USER)
def lookup_user(operation: GraphOperation) -> ledger.Success:
    async def work(s: Session) -> dict[str, Any]:
        return {"user": await calls.get_user(s, _key(operation))}

    result, ids = _run(operation, work)
    return ledger.Success(result=result, request_ids=ids, target_user_id=result["user"]["id"])


@executes(Kind.GET_MANAGER)
def get_manager(operation: GraphOperation) -> ledger.Success:
    async def work(s: Session) -> dict[str, Any]:
        return {"manager": await calls.get_manager(s, _key(operation))}

    result, ids = _run(operation, work)
    return ledger.Success(result=result, request_ids=ids)


@executes(Kind.CHECK_PRIVILEGED)
def check_privileged(operation: GraphOperation) -> ledger.Success:
    async def work(s: Session) -> dict[str, Any]:
        user = await calls.get_user(s, _key(operation))
        roles = await calls.privileged_roles(s, user["id"])
        return {"user_id": user["id"], "is_privileged": bool(roles), "privileged_roles": roles}

    result, ids = _run(operation, work)
    return ledger.Success(result=result, request_ids=ids, target_user_id=result["user_id"])


@executes(Kind.LIST_METHODS)
def list_methods(operation: GraphOperation) -> ledger.Success:
    async def work(s: Session) -> dict[str, Any]:
        return {"methods": await calls.list_methods(s, _key(operation))}

    result, ids = _run(operation, work)
    return ledger.Success(result=result, request_ids=ids)


@executes(Kind.READ_TAP_POLICY)
def read_tap_policy(operation: GraphOperation) -> ledger.Success:
    async def work(s: Session) -> dict[str, Any]:
        return {"policy": await calls.tap_policy(s)}

    result, ids = _run(operation, work)
    return ledger.Success(result=result, request_ids=ids)


@executes(Kind.CHECK_NEW_METHODS)
def check_new_methods(operation: GraphOperation) -> ledger.Success:
    since = dt.datetime.fromisoformat(operation.params["since"])
    known = set(operation.params.get("known_method_ids") or [])

    async def work(s: Session) -> dict[str, Any]:
        methods = await calls.list_methods(s, _key(operation))
        taps = await calls.list_taps(s, _key(operation))
        return _new_methods_verdict(
            methods, taps, since=since, known=known, tap_id=operation.params.get("tap_id")
        )

    result, ids = _run(operation, work)
    return ledger.Success(result=result, request_ids=ids)


def _new_methods_verdict(
    methods: list[MethodFacts],
    taps: list[TapFacts],
    *,
    since: dt.datetime,
    known: set[str],
    tap_id: str | None,
) -> dict[str, Any]:
    def is_new(m: MethodFacts) -> bool:
        if m["type"] in NOT_DELETABLE:
            return False
        if known:
            return m["id"] not in known
        created = m.get("createdDateTime")
        return bool(created) and dt.datetime.fromisoformat(str(created)) > since

    new = [m for m in methods if is_new(m)]
    tap = next((t for t in taps if not tap_id or t["id"] == tap_id), None)
    reason = tap["methodUsabilityReason"] if tap else None
    tap_state = (
        "missing"
        if tap is None
        else {"Expired": "expired", "OneTimeUsed": "used"}.get(
            str(reason), "active" if tap["isUsable"] else "inactive"
        )
    )
    return {
        "new_methods": new,
        "has_new_method": bool(new),
        "tap": tap,
        "tap_state": tap_state,
        "tap_expired_unused": not new and tap_state in ("expired", "missing"),
    }


# --- Writes --------------------------------------------------------------------------------


@executes(Kind.ISSUE_TAP)
def issue_tap(operation: GraphOperation) -> ledger.Success:
    """Read the policy, fit the request into it, POST once. A failure after the POST may
    have been sent is checked against Graph before anything else happens."""

    async def work(s: Session) -> tuple[dict[str, Any], str]:
        policy = await calls.tap_policy(s)
        if policy["state"] != "enabled":
            raise errors.Permanent(
                client.explain(400, "tap_policy_disabled", "UserCredentialPolicy"),
                code="tap_policy_disabled",
                retryable=True,
            )
        user = await calls.get_user(s, _key(operation))
        _refuse_unfit_target(user)
        lifetime, once = _fit_to_policy(operation.params, policy)
        start = operation.params.get("start_at")
        start_at = dt.datetime.fromisoformat(start) if start else None
        try:
            tap, secret = await calls.create_tap(
                s, user["id"], lifetime=lifetime, once=once, start=start_at
            )
        except Exception as exc:
            raise await _after_failed_post(s, operation, user["id"], exc) from None
        return {"user_id": user["id"], "tap": tap, "policy": policy}, secret

    (result, secret), ids = _run(operation, work)
    tap = result["tap"]
    start = dt.datetime.fromisoformat(tap["startDateTime"] or tap["createdDateTime"])
    expires = start + dt.timedelta(minutes=int(tap["lifetimeInMinutes"] or 0))
    summary = {
        "tap_id": tap["id"],
        "created_at": tap["createdDateTime"],
        "start_at": tap["startDateTime"],
        "lifetime_minutes": tap["lifetimeInMinutes"],
        "is_usable_once": tap["isUsableOnce"],
        "expires_at": expires.isoformat(),
        "policy": result["policy"],
    }
    return ledger.Success(
        result=summary,
        request_ids=ids,
        secret=secret,
        secret_expires_at=expires,
        target_user_id=result["user_id"],
    )


def _refuse_unfit_target(user: UserFacts) -> None:
    if user.get("userType") == "Guest":
        raise errors.Permanent(
            "A Temporary Access Pass cannot be issued to an external guest.", code="guest_user"
        )
    if user.get("accountEnabled") is False:
        raise errors.Permanent(
            "The account is disabled in Entra: enable it before issuing a Temporary Access Pass.",
            code="account_disabled",
        )


def _fit_to_policy(params: dict[str, Any], policy: TapPolicyFacts) -> tuple[int, bool]:
    """The lifetime asked for, clamped to the policy's range; one-time if the policy says so."""
    low = int(policy.get("minimumLifetimeInMinutes") or 60)
    high = int(policy.get("maximumLifetimeInMinutes") or 480)
    wanted = params.get("lifetime_minutes") or policy.get("defaultLifetimeInMinutes") or low
    once = params.get("one_time")
    if policy.get("isUsableOnce"):
        once = True
    return max(low, min(high, int(wanted))), bool(True if once is None else once)


async def _after_failed_post(
    s: Session, operation: GraphOperation, user_id: str, exc: Exception
) -> Exception:
    """A 429 was not processed: safe to try later. Anything else (timeout, 5xx) may have
    created the pass: look before deciding; never POST blindly again."""
    translated = client.translate(exc, request_ids=[])
    if not isinstance(translated, errors.Transient) or translated.status == 429:
        return translated
    try:
        found = await find_tap_since(s, user_id, started=operation.started_at)
    except Exception:  # the check itself failed: a person must look
        return errors.Uncertain(
            f"The Temporary Access Pass request failed ({translated.code}) and Graph could not "
            "be asked whether a pass was created. Check the user's methods before retrying.",
            code="tap_outcome_unknown",
        )
    if found is not None:
        return uncertain_tap(found)
    if _may_still_be_processed(exc):
        # Sent, never answered: Graph may still create the pass after this look, and a second
        # POST would replace it. Only a person may decide to issue again.
        return errors.Uncertain(
            f"The Temporary Access Pass request got no answer ({translated.code}) and Graph "
            "shows no new pass yet, but may still create one. Check the user's methods before "
            "retrying.",
            code="tap_outcome_unknown",
        )
    return translated


def _may_still_be_processed(exc: Exception) -> bool:
    """The request may have left and no answer came (a timeout, a dropped connection)."""
    never_sent = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
    return isinstance(exc, httpx.TransportError) and not isinstance(exc, never_sent)


async def find_tap_since(
    s: Session, user_id: str, *, started: dt.datetime | None
) -> TapFacts | None:
    """The user's TAP if it was created at or after ``started`` (less the clock skew)."""
    since = (started or timezone.now()) - CLOCK_SKEW
    for tap in await calls.list_taps(s, user_id):
        created = tap["createdDateTime"]
        if created and dt.datetime.fromisoformat(created) >= since:
            return tap
    return None


def uncertain_tap(tap: TapFacts) -> errors.Uncertain:
    return errors.Uncertain(
        "A Temporary Access Pass was created at "
        f"{tap['createdDateTime']}, but its value never reached the portal. Do not issue "
        "another without deciding: a new one replaces it. Retry to issue a fresh pass, or "
        "delete it in Entra.",
        code="tap_created_value_lost",
        result={"tap": tap},
    )


@executes(Kind.DELETE_METHODS)
def delete_methods(operation: GraphOperation) -> ledger.Success:
    ids = set(operation.params.get("method_ids") or [])
    types = set(operation.params.get("method_types") or [])
    return _delete_matching(operation, lambda m: m["id"] in ids or m["type"] in types)


@executes(Kind.REQUIRE_REREGISTRATION)
def require_reregistration(operation: GraphOperation) -> ledger.Success:
    """Graph has no "require re-register MFA": remove what the admin center button removes."""
    return _delete_matching(operation, lambda m: m["type"] in REREGISTRATION_TYPES)


def _delete_matching(
    operation: GraphOperation, chosen: Callable[[MethodFacts], bool]
) -> ledger.Success:
    async def work(s: Session) -> dict[str, Any]:
        user = await calls.get_user(s, _key(operation))
        methods = [
            m
            for m in await calls.list_methods(s, user["id"])
            if m["type"] not in NOT_DELETABLE or m["type"] == "temporaryAccessPass" and chosen(m)
        ]
        outcome = await _delete_in_order(s, user["id"], [m for m in methods if chosen(m)])
        return {"user_id": user["id"], **outcome}

    result, ids = _run(operation, work)
    if result["refused"]:
        raise errors.Permanent(
            "Graph refused to delete: "
            + "; ".join(f"{r['type']} {r['id']}: {r['reason']}" for r in result["refused"]),
            code="method_delete_refused",
            request_ids=ids,
            result=result,
        )
    return ledger.Success(result=result, request_ids=ids, target_user_id=result["user_id"])


def _delete_order(method: MethodFacts) -> tuple[int, int]:
    # Authenticator and OATH first, phones after (alternate before mobile), others last.
    rank = {"microsoftAuthenticator": 0, "softwareOath": 1, "phone": 2}.get(method["type"], 3)
    return rank, PHONE_ORDER.get(method["id"], 0)


async def _delete_in_order(s: Session, user_id: str, methods: list[MethodFacts]) -> dict[str, Any]:
    """Graph v1.0 cannot say which method is the default, and refuses to delete it while
    others exist: set refused ones aside and try them again once the others are gone."""
    deleted: list[str] = []
    gone: list[str] = []
    pending = sorted(methods, key=_delete_order)
    refused: list[dict[str, str]] = []
    for _ in range(2):
        refused = []
        for method in pending:
            try:
                done = await calls.delete_method(
                    s, user_id, method_type=method["type"], method_id=method["id"]
                )
            except ODataError as exc:
                if exc.response_status_code != 400:
                    raise
                reason = (exc.error.message if exc.error else "") or "refused"
                refused.append({"id": method["id"], "type": method["type"], "reason": reason})
                continue
            (deleted if done else gone).append(method["id"])
        pending = [m for m in pending if m["id"] in {r["id"] for r in refused}]
        if not pending:
            break
    return {"deleted": deleted, "already_gone": gone, "refused": refused}


@executes(Kind.REVOKE_SESSIONS)
def revoke_sessions(operation: GraphOperation) -> ledger.Success:
    async def work(s: Session) -> dict[str, Any]:
        return {"revoked": await calls.revoke_sessions(s, _key(operation))}

    result, ids = _run(operation, work)
    return ledger.Success(result=result, request_ids=ids)


@executes(Kind.ADD_CA_EXCLUSION)
def add_ca_exclusion(operation: GraphOperation) -> ledger.Success:
    expires = dt.datetime.fromisoformat(operation.params["expires_at"])
    if timezone.now() >= expires:
        raise errors.Permanent(
            "The exclusion window ended before the user could be added; request a new exclusion.",
            code="exclusion_window_over",
        )
    group_id = operation.params["group_id"]

    async def work(s: Session) -> dict[str, Any]:
        user = await calls.get_user(s, _key(operation))
        added = await calls.add_member(s, group_id, user["id"])
        return {
            "user_id": user["id"],
            "group_id": group_id,
            "added": added,
            "expires_at": expires.isoformat(),
        }

    result, ids = _run(operation, work)
    return ledger.Success(result=result, request_ids=ids, target_user_id=result["user_id"])


@executes(Kind.REMOVE_CA_EXCLUSION)
def remove_ca_exclusion(operation: GraphOperation) -> ledger.Success:
    group_id = operation.params["group_id"]

    async def work(s: Session) -> dict[str, Any]:
        try:
            user = await calls.get_user(s, _key(operation))
        except ODataError as exc:
            if exc.response_status_code != 404:
                raise
            # The account is gone, and its memberships with it.
            return {"user_id": "", "group_id": group_id, "removed": False}
        removed = await calls.remove_member(s, group_id, user["id"])
        return {"user_id": user["id"], "group_id": group_id, "removed": removed}

    result, ids = _run(operation, work)
    return ledger.Success(result=result, request_ids=ids, target_user_id=result["user_id"])

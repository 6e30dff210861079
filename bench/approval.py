"""Approval click → the first Graph request arriving at the simulated tenant.

Each sample takes a fresh case through the workflow's own functions (claim, verify, the
manager's confirmation by the mailed link, the approval). The clock starts when ``approve`` is
called; it stops at the time the simulated tenant logged the first request carrying the first
step's operation id (Graph's ``client-request-id``). In between: the approval's transaction,
the message through Redis, a real Celery worker claiming the row, msal and msgraph-sdk.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any
from urllib.parse import unquote

from django.core import mail
from django.test.utils import override_settings

from bench.common import scaled, summary_ms, verdict
from bench.seed import MANAGER_UPN
from graphops.models import GraphOperation
from tickets import workflow
from tickets.models import MethodRemoval, RecoveryStep, Status, Ticket, VerificationMethod
from tickets.plans import Plan

UPN = "bench.approval@contoso.example"
GOAL_P95_S = 1.0


def _ticket(number: int, user_id: str) -> Ticket:
    return Ticket.objects.create(
        reference=f"RP-APPR-{number:04d}",
        upn=UPN,
        full_name="Bench Approval",
        what_happened="lost",
        alternate_email="bench.approval@example.org",
        claim_code_hash="hmac-sha256$bench",
        directory_state="found",
        directory_facts={"user": {"id": user_id, "onPremisesSyncEnabled": True},
                         "manager": {"userPrincipalName": MANAGER_UPN}, "methods": []},
        is_privileged=False,
        manager_upn=MANAGER_UPN,
    )  # fmt: skip


def _link_token() -> str:
    for message in reversed(mail.outbox):
        found = re.search(r"/staff/manager/\?t=([\w:.\-%]+)", message.body)
        if found:
            return unquote(found.group(1))
    raise RuntimeError("no manager link was mailed")


def _to_approval(ticket: Ticket, cast: Any) -> Ticket:
    plan = Plan(
        issue_tap=True,
        tap_lifetime_minutes=60,
        remove_methods=MethodRemoval.NONE,
        revoke_sessions=True,
    )
    evidence = workflow.Evidence(
        method=VerificationMethod.IN_PERSON, notes="Came to the desk; badge and face match."
    )
    workflow.claim(ticket, by=cast.agent)
    workflow.verify_identity(ticket, by=cast.agent, evidence=evidence, plan=plan)
    workflow.decide_as_manager(_link_token(), by=cast.manager, confirm=True, reason="Confirmed.")
    return Ticket.objects.get(pk=ticket.pk)


def _wait(check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the execution did not finish")
        time.sleep(0.01)


def _sample(number: int, cast: Any, user_id: str) -> tuple[str, float]:
    ticket = _to_approval(_ticket(number, user_id), cast)
    clicked = time.time()
    workflow.approve(ticket, by=cast.approver, note="Second pair of eyes: fine.")
    step = RecoveryStep.objects.get(ticket=ticket, position=0)
    operation_id = str(step.operation_id)
    _wait(lambda: GraphOperation.objects.get(pk=operation_id).is_finished)
    # Let the whole plan finish, so that one sample's later steps do not queue before the next.
    _wait(lambda: Ticket.objects.get(pk=ticket.pk).status not in (Status.EXECUTING,))
    return operation_id, clicked


def _arrivals(stack: Any, operation_ids: set[str]) -> dict[str, float]:
    first: dict[str, float] = {}
    for record in stack.sim.requests():
        op = record["client_request_id"]
        if op in operation_ids and op not in first:
            first[op] = dt.datetime.fromisoformat(record["at"].replace("Z", "+00:00")).timestamp()
    return first


def run(results: Any, *, stack: Any, cast: Any) -> None:
    user_id = stack.sim.call("POST", "/_sim/users", {"upn": UPN})["id"]
    samples = scaled(40, minimum=10)
    clicks: dict[str, float] = {}
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        for number in range(samples + 4):  # the first four warm both worker processes' tokens
            operation_id, clicked = _sample(number, cast, user_id)
            if number >= 4:
                clicks[operation_id] = clicked
    arrived = _arrivals(stack, set(clicks))
    latencies = [arrived[op] - clicks[op] for op in clicks if op in arrived]
    figures = {**summary_ms(latencies), "missing": len(clicks) - len(latencies)}
    results.add("approval_to_graph", figures)
    results.row(
        "approval → Graph request at the tenant",
        f"p50 {figures['p50_ms']} ms / p95 {figures['p95_ms']} ms / max {figures['max_ms']} ms "
        f"over {figures['n']} approvals",
        "p95 < 1 s",
        verdict(figures["p95_ms"] < GOAL_P95_S * 1000 and not figures["missing"]),
    )

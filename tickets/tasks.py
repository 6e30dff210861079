"""Celery tasks of the workflow: one more interface to tickets.workflow, nothing more."""

from __future__ import annotations

from celery import shared_task

from tickets import notifications, policy, workflow
from tickets.intake import notices


@shared_task(name="tickets.follow_up", ignore_result=True)
def follow_up() -> None:
    """Start approved cases whose cooling-off is over, and ask Graph about executed ones."""
    workflow.release_cooled_off()
    workflow.request_follow_ups()


@shared_task(name="tickets.send_due_notices", ignore_result=True)
def send_due_notices() -> None:
    """Send again the "recovery requested" notices whose earlier attempt failed, once due."""
    notices.send_due_notices()


@shared_task(name="tickets.mail_alternate_contact", ignore_result=True)
def mail_alternate_contact(ticket_id: int) -> None:
    """The reference-only mail to the alternate contact, out of the intake request's path."""
    notifications.send_reference_to_alternate_contact(ticket_id)


@shared_task(name="tickets.record_policy", ignore_result=True)
def record_policy() -> None:
    """Record the recovery policy the worker runs with, if it changed (tickets.policy)."""
    policy.record_policy_in_force(process="worker")

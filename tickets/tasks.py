"""Celery tasks of the tickets app: one more interface to the domain, nothing more."""

from __future__ import annotations

from celery import shared_task

from tickets import notifications, outbox, policy, workflow


@shared_task(name="tickets.follow_up", ignore_result=True)
def follow_up() -> None:
    """Start approved cases whose cooling-off is over, and ask Graph about executed ones."""
    workflow.release_cooled_off()
    workflow.request_follow_ups()


@shared_task(name=outbox.SEND_TASK, ignore_result=True)
def send_mail(mail_id: int) -> None:
    """One attempt at one owed mail (enqueued by tickets.outbox after the owing commit)."""
    notifications.send_mail(mail_id)


@shared_task(name="tickets.send_due_mail", ignore_result=True)
def send_due_mail() -> None:
    """Send the owed mail that is due: earlier attempts failed, or its message was lost."""
    notifications.send_due_mail()


@shared_task(name="tickets.record_policy", ignore_result=True)
def record_policy() -> None:
    """Record the recovery policy the worker runs with, if it changed (tickets.policy)."""
    policy.record_policy_in_force(process="worker")

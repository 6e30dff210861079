"""Celery tasks of the workflow: one more interface to tickets.workflow, nothing more."""

from __future__ import annotations

from celery import shared_task

from tickets import workflow


@shared_task(name="tickets.follow_up", ignore_result=True)
def follow_up() -> None:
    """Start approved cases whose cooling-off is over, and ask Graph about executed ones."""
    workflow.release_cooled_off()
    workflow.request_follow_ups()

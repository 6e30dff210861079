"""Celery entry points for the audit trail's periodic jobs (beat: recovery_portal/celery.py)."""

from __future__ import annotations

from celery import shared_task

from audit import anchors, retention


@shared_task(name="audit.publish_chain_head", ignore_result=True)
def publish_chain_head() -> None:
    anchors.publish_chain_head()


@shared_task(name="audit.email_head_digest", ignore_result=True)
def email_head_digest() -> None:
    anchors.email_head_digest()


@shared_task(name="audit.purge_personal_data", ignore_result=True)
def purge_personal_data() -> None:
    retention.purge_personal_data()

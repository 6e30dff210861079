"""Publishing the chain head: stored, logged, mailed to the auditors."""

from __future__ import annotations

import json
import logging

import pytest
from django.core import mail

from audit import anchors, log
from audit.actions import Action
from audit.models import AuditAnchor
from audit.tasks import email_head_digest, publish_chain_head

pytestmark = pytest.mark.django_db


def test_publish_chain_head_stores_and_logs_the_newest_event(some_events, caplog) -> None:  # type: ignore[no-untyped-def]
    # given
    caplog.set_level(logging.INFO, logger="audit.anchor")
    # when
    anchor = anchors.publish_chain_head()
    # then
    head = some_events[-1]
    assert anchor is not None
    assert (anchor.event_id, anchor.event_hash, anchor.event_count) == (head.pk, head.hash, 5)
    line = json.loads(next(r.getMessage() for r in caplog.records if r.name == "audit.anchor"))
    assert line["event_hash"] == head.hash and line["event_id"] == head.pk


def test_publish_chain_head_stores_an_unchanged_head_once(some_events) -> None:  # type: ignore[no-untyped-def]
    first = anchors.publish_chain_head()
    again = anchors.publish_chain_head()
    assert first == again and AuditAnchor.objects.count() == 1
    log.record(Action.TICKET_CLOSED, ticket_ref="RP-0001")
    assert anchors.publish_chain_head() != first and AuditAnchor.objects.count() == 2


def test_publish_chain_head_does_nothing_on_an_empty_trail(db) -> None:  # type: ignore[no-untyped-def]
    assert anchors.publish_chain_head() is None
    assert not AuditAnchor.objects.exists()


def test_email_head_digest_goes_to_the_auditors_only(some_events, auditor, security, agent) -> None:  # type: ignore[no-untyped-def]
    # when
    sent = anchors.email_head_digest()
    # then one message, to the auditor, with the head and the command that checks it
    head = some_events[-1]
    assert sent == 1 and len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [auditor.email]
    assert f"{head.pk}:{head.hash}" in message.body
    assert f"audit_verify --anchor {head.pk}:{head.hash}" in message.body


def test_tasks_run_the_same_publication(some_events, auditor) -> None:  # type: ignore[no-untyped-def]
    publish_chain_head.apply()
    email_head_digest.apply()
    assert AuditAnchor.objects.count() == 1 and len(mail.outbox) == 1

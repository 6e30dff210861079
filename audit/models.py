"""The audit event: append-only (a database trigger refuses UPDATE and DELETE) and chained
(each row stores the hash of its canonical content and of the previous row)."""

from __future__ import annotations

import pgtrigger
from django.db import models


class Outcome(models.TextChoices):
    SUCCESS = "success", "success"
    FAILURE = "failure", "failure"
    DENIED = "denied", "denied"


class AuditEvent(models.Model):
    created_at = models.DateTimeField(db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    # The actor is a snapshot, not a foreign key: the record must outlive the account and a
    # cascading SET NULL would be an UPDATE, which the trigger refuses.
    actor_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_label = models.CharField(max_length=254, blank=True)
    actor_roles = models.CharField(max_length=200, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    ticket_ref = models.CharField(max_length=32, blank=True, db_index=True)
    subject = models.CharField(max_length=254, blank=True, db_index=True)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]
        permissions = [
            ("view_audit_trail", "Can read the audit trail and reports"),
            ("export_audit_trail", "Can export the audit trail"),
        ]
        triggers = [
            pgtrigger.Protect(
                name="audit_event_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.ticket_ref}".strip()

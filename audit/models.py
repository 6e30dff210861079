"""The audit event: append-only and chained.

Each row stores the hash of its canonical content and the previous row's hash. Personal values
(the account, free-text reason, IP, user agent, extra personal fields) sit in columns *outside*
the hashed content; the hash covers a salted commitment to them instead. The retention purge may
blank those columns (and the salt) once — nothing else can ever change: a database trigger
refuses every other UPDATE and every DELETE (docs/AUDIT.md).
"""

from __future__ import annotations

import pgtrigger
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

# Columns that never change once written (all but "id" are covered by the hash; see
# audit.chain.canonical).
FROZEN_COLUMNS = (
    "id",
    "created_at",
    "action",
    "outcome",
    "actor_id",
    "actor_label",
    "actor_roles",
    "actor_kind",
    "on_behalf_of_id",
    "on_behalf_of_label",
    "ticket_ref",
    "data",
    "pii_commitment",
    "prev_hash",
    "hash",
)
# Columns the purge blanks (covered by pii_commitment while they hold their values).
PERSONAL_COLUMNS = ("subject", "reason", "ip", "user_agent", "personal", "pii_salt")

_CHANGED = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in FROZEN_COLUMNS)
# The one UPDATE allowed: a not-yet-redacted row has its personal columns blanked, once.
_REFUSED_UPDATE = (
    f"{_CHANGED} OR OLD.redacted_at IS NOT NULL OR NEW.redacted_at IS NULL"
    " OR NEW.subject <> '' OR NEW.reason <> '' OR NEW.ip <> '' OR NEW.user_agent <> ''"
    " OR NEW.personal <> '{}'::jsonb OR NEW.pii_salt <> ''"
)


class Outcome(models.TextChoices):
    SUCCESS = "success", "success"
    FAILURE = "failure", "failure"
    DENIED = "denied", "denied"


class ActorKind(models.TextChoices):
    """Who did it: a signed-in person, the portal itself (worker, beat, command), or someone
    not signed in (a requester, a link's holder). Events before rp-audit/2 have none ("")."""

    PERSON = "person", _("Person")
    SYSTEM = "system", _("System")
    PUBLIC = "public", _("Not signed in")


class AuditEvent(models.Model):
    created_at = models.DateTimeField(db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    # The actor is a snapshot, not a foreign key: the record must outlive the account and a
    # cascading SET NULL would be an UPDATE, which the trigger refuses.
    actor_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_label = models.CharField(max_length=254, blank=True, db_index=True)
    actor_roles = models.CharField(max_length=200, blank=True)
    # "" only on events written before these columns existed (their hash is rp-audit/1).
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices, blank=True, default="")
    # For a system action, the person whose request it carries out (a snapshot, as the actor).
    on_behalf_of_id = models.BigIntegerField(null=True, blank=True)
    on_behalf_of_label = models.CharField(max_length=254, blank=True, db_index=True)
    ticket_ref = models.CharField(max_length=32, blank=True, db_index=True)
    data = models.JSONField(default=dict, blank=True)
    pii_commitment = models.CharField(max_length=64, default="")

    # Personal, redactable: not hashed directly (the commitment is).
    subject = models.CharField(max_length=254, blank=True, db_index=True)
    reason = models.TextField(blank=True)
    # Text, not inet: the stored string is exactly the one the commitment covers.
    ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    personal = models.JSONField(default=dict, blank=True)
    pii_salt = models.CharField(max_length=32, blank=True)
    redacted_at = models.DateTimeField(null=True, blank=True)

    prev_hash = models.CharField(max_length=64, unique=True)  # unique: the chain cannot fork
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["ticket_ref", "id"], name="audit_event_ticket_id"),
            models.Index(fields=["action", "created_at"], name="audit_event_action_time"),
        ]
        permissions = [
            ("view_audit_trail", "Can read the audit trail and reports"),
            ("export_audit_trail", "Can export the audit trail"),
        ]
        triggers = [
            pgtrigger.Protect(name="audit_event_no_delete", operation=pgtrigger.Delete),
            pgtrigger.Protect(
                name="audit_event_append_only",
                operation=pgtrigger.Update,
                condition=pgtrigger.Condition(_REFUSED_UPDATE),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.ticket_ref}".strip()

    @property
    def is_redacted(self) -> bool:
        return self.redacted_at is not None

    @property
    def who(self) -> str:
        """The actor as an auditor reads it: "alice", "System (on behalf of alice)", …"""
        if self.actor_kind == ActorKind.SYSTEM:
            if self.on_behalf_of_label:
                return gettext("System (on behalf of %(name)s)") % {"name": self.on_behalf_of_label}
            return gettext("System")
        if self.actor_kind == ActorKind.PUBLIC and not self.actor_label:
            return gettext("Not signed in")
        return self.actor_label


class AuditAnchor(models.Model):
    """A published chain head: the newest event's id and hash at a moment, also sent out of
    the database (log line, e-mail to the auditors). A rewrite of the whole table shows up as
    an anchored event whose hash no longer matches."""

    created_at = models.DateTimeField(db_index=True)
    event_id = models.BigIntegerField()
    event_hash = models.CharField(max_length=64)
    event_count = models.BigIntegerField()

    class Meta:
        ordering = ["id"]
        triggers = [
            pgtrigger.Protect(
                name="audit_anchor_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            ),
        ]

    def __str__(self) -> str:
        return f"head #{self.event_id} {self.event_hash[:12]}"

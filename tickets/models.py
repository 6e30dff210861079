"""The recovery case."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Status(models.TextChoices):
    NEW = "new", _("Received")
    IN_VERIFICATION = "in_verification", _("Verifying identity")
    VERIFIED = "verified", _("Awaiting approval")
    APPROVED = "approved", _("Approved, queued")
    EXECUTING = "executing", _("Being carried out")
    EXECUTED = "executed", _("Ready")
    RESTORED = "restored", _("Access restored")
    FAILED = "failed", _("Execution failed")
    FROZEN = "frozen", _("Frozen for security review")
    CLOSED = "closed", _("Closed")


OPEN_STATUSES = [
    Status.NEW,
    Status.IN_VERIFICATION,
    Status.VERIFIED,
    Status.APPROVED,
    Status.EXECUTING,
    Status.EXECUTED,
    Status.FAILED,
    Status.FROZEN,
]


class Urgency(models.TextChoices):
    LOW = "low", _("Low — I can wait a day")
    NORMAL = "normal", _("Normal — some work is blocked")
    HIGH = "high", _("High — I cannot work at all")
    CRITICAL = "critical", _("Critical — business-critical work is blocked")


class WhatHappened(models.TextChoices):
    LOST = "lost", _("Phone lost")
    STOLEN = "stolen", _("Phone stolen")
    BROKEN = "broken", _("Phone broken")
    REPLACED = "replaced", _("Phone replaced or reset")
    NUMBER_CHANGED = "number_changed", _("Phone number changed")
    OTHER = "other", _("Something else")


class BackupState(models.TextChoices):
    YES = "yes", _("Yes")
    NO = "no", _("No")
    UNKNOWN = "unknown", _("I don't know")


class PreferredVerification(models.TextChoices):
    VIDEO = "video", _("Video call with photo ID")
    IN_PERSON = "in_person", _("In person, with my badge")
    CALLBACK = "callback", _("Call back on the number the company has on record")


class DirectoryState(models.TextChoices):
    PENDING = "pending", _("Lookup pending")
    FOUND = "found", _("Found")
    NOT_FOUND = "not_found", _("Not found")
    UNREACHABLE = "unreachable", _("Directory unreachable")


class Ticket(models.Model):
    reference = models.CharField(max_length=16, unique=True)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.NEW, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The request, as the IT request template asks for it.
    full_name = models.CharField(max_length=120)
    upn = models.CharField(max_length=254, db_index=True)
    department = models.CharField(max_length=120, blank=True)
    urgency = models.CharField(max_length=10, choices=Urgency.choices, default=Urgency.NORMAL)
    blocked_work = models.CharField(max_length=300, blank=True)
    alternate_phone = models.CharField(max_length=32, blank=True)
    alternate_email = models.EmailField(blank=True)
    what_happened = models.CharField(max_length=20, choices=WhatHappened.choices)
    methods_still_working = models.JSONField(default=list, blank=True)
    backup_enabled = models.CharField(
        max_length=10, choices=BackupState.choices, default=BackupState.UNKNOWN
    )
    preferred_verification = models.CharField(
        max_length=12, choices=PreferredVerification.choices, default=PreferredVerification.VIDEO
    )
    details = models.TextField(blank=True, max_length=2000)
    language = models.CharField(max_length=8, default="en")

    # The requester follows the case with this code; only its hash is kept.
    claim_code_hash = models.CharField(max_length=128)

    # What the directory (Graph) says about the account, filled in by the background lookup.
    directory_state = models.CharField(
        max_length=12, choices=DirectoryState.choices, default=DirectoryState.PENDING
    )
    directory_facts = models.JSONField(default=dict, blank=True)
    is_privileged = models.BooleanField(null=True, blank=True)
    manager_upn = models.CharField(max_length=254, blank=True)

    # Queue handling.
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_tickets",
    )
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="duplicates"
    )
    flagged = models.BooleanField(default=False, db_index=True)
    flag_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "-created_at"], name="ticket_status_created")]
        permissions = [
            ("view_queue", "Can see the recovery queue"),
            ("work_ticket", "Can claim and work on recovery tickets"),
            ("verify_identity", "Can record an identity verification"),
            ("approve_recovery", "Can give the second-person approval"),
            ("approve_privileged", "Can approve recovery for privileged accounts"),
            ("handle_fraud", "Can review frozen (suspected fraud) tickets"),
            ("view_history", "Can read closed tickets (auditor)"),
        ]

    def __str__(self) -> str:
        return self.reference

"""The operation ledger: one row per call (or small batch of calls) made to Microsoft Graph.

The row is the truth. A Celery message only carries its id; the worker that claims the row
(PENDING → RUNNING, a conditional update) is the only one that talks to Graph for it. A
finished row stays "not announced" (``announced_at`` null) until the apps that follow it
(tickets) have taken its outcome up, in one transaction with their own changes
(``graphops.announcements``).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Kind(models.TextChoices):
    # Composite read for the intake: user facts + manager + privileged roles + methods.
    DIRECTORY_LOOKUP = "directory_lookup", _("Directory lookup")
    LOOKUP_USER = "lookup_user", _("Look up user")
    GET_MANAGER = "get_manager", _("Get manager")
    CHECK_PRIVILEGED = "check_privileged", _("Check privileged roles")
    LIST_METHODS = "list_methods", _("List authentication methods")
    ISSUE_TAP = "issue_tap", _("Issue Temporary Access Pass")
    DELETE_METHODS = "delete_methods", _("Delete authentication methods")
    REQUIRE_REREGISTRATION = "require_reregistration", _("Require MFA re-registration")
    REVOKE_SESSIONS = "revoke_sessions", _("Revoke sign-in sessions")
    ADD_CA_EXCLUSION = "add_ca_exclusion", _("Add Conditional Access exclusion")
    REMOVE_CA_EXCLUSION = "remove_ca_exclusion", _("Remove Conditional Access exclusion")
    READ_TAP_POLICY = "read_tap_policy", _("Read Temporary Access Pass policy")
    # Follow-up: has a method been registered since X? Did the TAP expire unused?
    CHECK_NEW_METHODS = "check_new_methods", _("Check for newly registered methods")


class OpStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    NEEDS_REVIEW = "needs_review", _("Needs review")


FINISHED_STATUSES = (OpStatus.SUCCEEDED, OpStatus.FAILED, OpStatus.NEEDS_REVIEW)


class GraphOperation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=32, choices=Kind.choices, db_index=True)
    target_upn = models.CharField(max_length=254, blank=True, db_index=True)
    target_user_id = models.CharField(max_length=64, blank=True)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=OpStatus.choices, default=OpStatus.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    not_before = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    graph_request_ids = models.JSONField(default=list, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    retryable = models.BooleanField(default=False)
    # Never a secret: a TAP value lives only in secret_ciphertext, and only until its reveal.
    result = models.JSONField(default=dict, blank=True)
    secret_ciphertext = models.TextField(blank=True)
    secret_expires_at = models.DateTimeField(null=True, blank=True)
    secret_revealed_at = models.DateTimeField(null=True, blank=True)
    # When the receivers of operation_finished took this outcome up (null until then, and again
    # each time the row finishes anew); failed announcements wait announce_retry_at.
    announced_at = models.DateTimeField(null=True, blank=True)
    announce_failures = models.PositiveIntegerField(default=0)
    announce_retry_at = models.DateTimeField(null=True, blank=True)
    correlation = models.CharField(max_length=64, blank=True, db_index=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="graph_operations",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("retry_graphoperation", "Can retry a failed or stuck Graph operation"),
        ]
        indexes = [
            models.Index(fields=["status", "not_before"], name="graphop_status_due"),
            # The announcement sweep reads the few finished rows not taken up, oldest first.
            models.Index(
                fields=["finished_at"],
                condition=Q(announced_at__isnull=True)
                & Q(status__in=["succeeded", "failed", "needs_review"]),
                name="graphop_unannounced",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(secret_ciphertext="") | Q(kind="issue_tap"),
                name="graphop_secret_only_for_tap",
            ),
            models.CheckConstraint(
                condition=Q(status="running", started_at__isnull=False) | ~Q(status="running"),
                name="graphop_running_has_started_at",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.target_upn} [{self.status}]"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_ciphertext) and self.secret_revealed_at is None

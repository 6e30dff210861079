"""The recovery case."""

from __future__ import annotations

import pgtrigger
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
    # When the SLA clock runs out: arrival plus the policy's time for the urgency, stored at
    # intake so the queue sorts on an indexed column rather than a per-row CASE.
    sla_due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="ticket_status_created"),
            models.Index(fields=["status", "sla_due_at"], name="ticket_status_sla_due"),
            # The queue's default view: every open case, SLA due first. Open cases span eight
            # statuses, so (status, sla_due_at) cannot give that order without sorting all of
            # them; this partial index reads the first page in order, id as the tie-breaker.
            models.Index(
                fields=["sla_due_at", "created_at", "id"],
                name="ticket_open_sla_due",
                condition=models.Q(status__in=OPEN_STATUSES),
            ),
        ]
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


# --- Verification, manager confirmation, approvals and execution (the workflow's records) ----
# A ticket goes through one or more "rounds": a verification (with the plan the verifier
# proposes), its manager confirmation, its approvals and the Graph steps carrying it out.
# Reopening a case (a TAP that expired unused) supersedes the round; the records stay.


class VerificationMethod(models.TextChoices):
    VIDEO_ID = "video_id", _("Live video call with photo-ID check and liveness prompts")
    IN_PERSON = "in_person", _("In person, with the company badge")
    TRUSTED_CALLBACK = "trusted_callback", _("Callback to a number from a trusted record")
    MANAGER_VOUCH = "manager_vouch", _("The manager of record vouched live")


class MethodRemoval(models.TextChoices):
    NONE = "none", _("Keep the registered methods")
    LOST_DEVICE = "lost_device", _("Remove the lost device's methods")
    ALL = "all", _("Remove all methods (the user registers again)")


class TapChannel(models.TextChoices):
    REQUESTER = "requester", _("The requester reveals it on the status page")
    AGENT = "agent", _("The verifying agent reads it out on the live call")


class Verification(models.Model):
    """An identity verification and the recovery plan the verifier proposes (one round)."""

    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="verifications")
    active = models.BooleanField(default=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="verifications"
    )
    verified_at = models.DateTimeField()
    method = models.CharField(max_length=20, choices=VerificationMethod.choices)
    evidence = models.TextField(max_length=2000)
    liveness_prompts = models.JSONField(default=list, blank=True)
    callback_number = models.CharField(max_length=40, blank=True)
    privileged = models.BooleanField(default=True)

    # The plan.
    issue_tap = models.BooleanField(default=True)
    tap_lifetime_minutes = models.PositiveIntegerField(null=True, blank=True)
    tap_usable_once = models.BooleanField(default=True)
    tap_channel = models.CharField(
        max_length=12, choices=TapChannel.choices, default=TapChannel.REQUESTER
    )
    remove_methods = models.CharField(
        max_length=12, choices=MethodRemoval.choices, default=MethodRemoval.LOST_DEVICE
    )
    method_ids_to_remove = models.JSONField(default=list, blank=True)
    revoke_sessions = models.BooleanField(default=True)
    ca_exclusion_minutes = models.PositiveIntegerField(null=True, blank=True)

    # Execution of this round.
    approved_at = models.DateTimeField(null=True, blank=True)
    execute_after = models.DateTimeField(null=True, blank=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    last_check_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-verified_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket"],
                condition=models.Q(active=True),
                name="one_active_verification_per_ticket",
            ),
            models.CheckConstraint(
                condition=models.Q(issue_tap=True)
                | ~models.Q(remove_methods="none")
                | models.Q(revoke_sessions=True)
                | models.Q(ca_exclusion_minutes__isnull=False),
                name="verification_plan_does_something",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id}:{self.pk}"


class ManagerDecision(models.TextChoices):
    PENDING = "pending", _("Waiting for the manager")
    CONFIRMED = "confirmed", _("Confirmed")
    DECLINED = "declined", _("Declined")


class ManagerConfirmation(models.Model):
    """The manager of record (or, with none on record, a security officer) confirms the round.

    The link's token is signed and expiring; only the hash of its nonce is stored, and deciding
    consumes it. Each attempt to mail the link mints a fresh token (``token_hash`` is blank until
    the first attempt, and voided again when an attempt fails), so the token is in the mail only.
    """

    ticket = models.ForeignKey(
        Ticket, on_delete=models.PROTECT, related_name="manager_confirmations"
    )
    verification = models.OneToOneField(
        Verification, on_delete=models.PROTECT, related_name="manager_confirmation"
    )
    manager_upn = models.CharField(max_length=254, blank=True)
    routed_to_security = models.BooleanField(default=False)
    token_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    decision = models.CharField(
        max_length=12, choices=ManagerDecision.choices, default=ManagerDecision.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="manager_decisions",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True, max_length=1000)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(decision="pending")
                | models.Q(decided_by__isnull=False, decided_at__isnull=False),
                name="manager_decision_has_decider",
            ),
            models.CheckConstraint(
                condition=~models.Q(manager_upn="") | models.Q(routed_to_security=True),
                name="manager_confirmation_has_someone",
            ),
            models.UniqueConstraint(
                fields=["token_hash"],
                condition=~models.Q(token_hash=""),
                name="manager_confirmation_token_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id}:{self.decision}"


class ApprovalRole(models.TextChoices):
    APPROVER = "approver", _("Second-person approval")
    SECURITY = "security", _("Security officer approval (privileged account)")


class Approval(models.Model):
    """A second person's approval of a round. Append-only.

    ``verifier`` copies the round's verifier so the database itself can refuse an approver who
    verified (check constraint); a trigger keeps the copy honest and refuses the account holder
    and the requester.
    """

    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="approvals")
    verification = models.ForeignKey(
        Verification, on_delete=models.PROTECT, related_name="approvals"
    )
    role = models.CharField(max_length=12, choices=ApprovalRole.choices)
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approvals_given"
    )
    verifier = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True, max_length=1000)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(approver=models.F("verifier")),
                name="approval_approver_is_not_verifier",
            ),
            models.UniqueConstraint(
                fields=["verification", "role"], name="one_approval_per_round_and_role"
            ),
            models.UniqueConstraint(
                fields=["verification", "approver"], name="one_approval_per_round_and_person"
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="approval_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            ),
            pgtrigger.Trigger(
                name="approval_separation_of_duties",
                operation=pgtrigger.Insert,
                when=pgtrigger.Before,
                func="""
                DECLARE
                    round_verifier bigint;
                    holder text;
                    requester text;
                    who_email text;
                    who_name text;
                BEGIN
                    SELECT v.verified_by_id, lower(t.upn), lower(t.alternate_email)
                      INTO round_verifier, holder, requester
                      FROM tickets_verification v JOIN tickets_ticket t ON t.id = v.ticket_id
                     WHERE v.id = NEW.verification_id AND t.id = NEW.ticket_id;
                    IF round_verifier IS NULL OR round_verifier <> NEW.verifier_id THEN
                        RAISE EXCEPTION 'approval: verifier copy does not match the round'
                            USING ERRCODE = 'check_violation';
                    END IF;
                    SELECT lower(u.email), lower(u.username) INTO who_email, who_name
                      FROM auth_user u WHERE u.id = NEW.approver_id;
                    IF holder IN (who_email, who_name)
                       OR (requester <> '' AND requester IN (who_email, who_name)) THEN
                        RAISE EXCEPTION 'approval: the account holder or requester cannot approve'
                            USING ERRCODE = 'check_violation';
                    END IF;
                    RETURN NEW;
                END;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id}:{self.role}:{self.approver_id}"


class RecoveryStep(models.Model):
    """One Graph operation of a round's plan, run in ``position`` order."""

    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="steps")
    verification = models.ForeignKey(Verification, on_delete=models.PROTECT, related_name="steps")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=32)
    params = models.JSONField(default=dict, blank=True)
    operation_id = models.UUIDField(null=True, blank=True, unique=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                fields=["verification", "position"], name="one_step_per_round_position"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id}:{self.position}:{self.kind}"


class TapDelivery(models.Model):
    """The once-only delivery of a round's TAP: to whom, until when, and when it was shown."""

    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="tap_deliveries")
    verification = models.OneToOneField(
        Verification, on_delete=models.PROTECT, related_name="tap_delivery"
    )
    operation_id = models.UUIDField(unique=True)
    channel = models.CharField(max_length=12, choices=TapChannel.choices)
    available_until = models.DateTimeField()
    revealed_at = models.DateTimeField(null=True, blank=True)
    revealed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.ticket_id}:{self.channel}"


# --- Public intake (triage counters, "this wasn't me" links) ----------------------------------


class RemainingMethod(models.TextChoices):
    """Sign-in methods the requester thinks may still work (Ticket.methods_still_working)."""

    SMS = "sms", _("Text message (SMS) to a phone I still have")
    VOICE = "voice", _("Phone call to a number I still have")
    FIDO2 = "fido2", _("Security key (FIDO2) or passkey")
    EMAIL = "email", _("Code by e-mail")
    OTHER_APP = "other_app", _("Authenticator on another device")
    NONE = "none", _("None of these")


class TriagePath(models.TextChoices):
    PERSONAL_ACCOUNT = "personal_account", _("Personal Microsoft account guidance")
    BACKUP_RESTORE = "backup_restore", _("Restore Authenticator from cloud backup")
    OTHER_METHOD = "other_method", _("Sign in with another method")
    REQUEST_FORM = "request_form", _("Request to IT")


class TriageDeflection(models.Model):
    """How many people the triage sent down each path, per day. No personal data."""

    path = models.CharField(max_length=20, choices=TriagePath.choices)
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day", "path"]
        constraints = [
            models.UniqueConstraint(fields=["path", "day"], name="triage_deflection_path_day")
        ]

    def __str__(self) -> str:
        return f"{self.day}:{self.path}={self.count}"


class NotMeLink(models.Model):
    """A "this wasn't me" link mailed to one recipient of one ticket; it works once.

    Only the SHA-256 of the link's random nonce is stored: the token itself is in the mail only.
    """

    class Recipient(models.TextChoices):
        ACCOUNT = "account", _("account holder")
        MANAGER = "manager", _("manager of record")

    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="not_me_links")
    recipient = models.CharField(max_length=10, choices=Recipient.choices)
    sent_to = models.EmailField()
    nonce_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "recipient"], name="one_not_me_link_per_recipient"
            )
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id}:{self.recipient}"


class MailKind(models.TextChoices):
    MANAGER_LINK = "manager_link", _("Confirmation link to the manager")
    RECOVERY_REQUESTED = "recovery_requested", _("“A recovery was requested” notice")
    SECURITY_ALERT = "security_alert", _("Alert to the security officers")
    EXECUTED = "executed", _("“Recovery carried out” notice")
    REFERENCE = "reference", _("Reference to the alternate contact")


# Mail a case cannot do without: the manager's link (the case waits on it) and the notices that
# tell the real account holder a recovery is under way. Giving one up flags the case.
ESSENTIAL_MAIL = (MailKind.MANAGER_LINK, MailKind.RECOVERY_REQUESTED)


class MailState(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SENT = "sent", _("Sent")
    CANCELLED = "cancelled", _("No longer needed")
    ABANDONED = "abandoned", _("Given up after repeated failures")


class OutboundMail(models.Model):
    """A mail the portal owes about a case: the outbox every mail goes through.

    Written in the transaction of the state change that owes it, sent by the worker
    (tickets.notifications), which claims it by moving ``next_attempt_at`` forward (a lease):
    two senders never mail it together and a sender that dies mid-way leaves it due again.
    No address and no link token are stored: each attempt reads the addresses from the case
    and mints a fresh link, the undelivered one being voided. ``context`` holds what an alert
    says (its headline and detail), never a secret or an address.
    """

    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="mails")
    kind = models.CharField(max_length=20, choices=MailKind.choices)
    # RECOVERY_REQUESTED: whom to tell, by role (the address is read from the case when sent).
    recipient = models.CharField(max_length=10, choices=NotMeLink.Recipient.choices, blank=True)
    # MANAGER_LINK: the confirmation whose link it carries (a fresh token at each attempt).
    confirmation = models.ForeignKey(
        ManagerConfirmation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="mails",
    )
    context = models.JSONField(default=dict, blank=True)
    language = models.CharField(max_length=8, default="en")
    state = models.CharField(max_length=10, choices=MailState.choices, default=MailState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # The exception's class name only (never the message: an SMTP reply may echo the mail).
    last_error = models.CharField(max_length=64, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="mail_state_due"),
            models.Index(fields=["ticket", "state"], name="mail_ticket_state"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "recipient"],
                condition=models.Q(kind="recovery_requested"),
                name="one_recovery_notice_per_recipient",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="sent") | models.Q(sent_at__isnull=False),
                name="outbound_mail_sent_has_sent_at",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="manager_link") | models.Q(confirmation__isnull=False),
                name="manager_link_mail_has_confirmation",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="recovery_requested") | ~models.Q(recipient=""),
                name="recovery_notice_mail_has_recipient",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id}:{self.kind}:{self.state}"

    @property
    def essential(self) -> bool:
        return self.kind in ESSENTIAL_MAIL


# --- Containment: undoing an executed recovery -------------------------------------------------


class ContainmentAction(models.Model):
    """One Graph operation queued to undo an executed recovery ("this wasn't me", fraud flag):
    delete the pass, end the sessions. Its GraphOperation (``operation_id``) holds the state;
    this row says that operation was containment, and for which case."""

    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="containment_actions")
    operation_id = models.UUIDField(unique=True)
    kind = models.CharField(max_length=32)
    requested_at = models.DateTimeField()

    class Meta:
        ordering = ["requested_at", "id"]

    def __str__(self) -> str:
        return f"{self.ticket_id}:{self.kind}"

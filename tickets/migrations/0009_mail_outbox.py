"""One outbox for every mail: OutboundMail replaces RecoveryNotice (the intake notices' outbox).

The pending, sent and given-up notices are copied over as RECOVERY_REQUESTED mail with their
attempts and back-off, so a notice owed before the upgrade is still sent after it. The manager
confirmation's token hash becomes blank until a mail attempt mints a link (each attempt mints
its own), so it is unique only when set.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


NOTICE_FIELDS = ("recipient", "state", "attempts", "next_attempt_at", "last_error", "sent_at")


def copy_notices(apps, schema_editor):
    RecoveryNotice = apps.get_model("tickets", "RecoveryNotice")
    OutboundMail = apps.get_model("tickets", "OutboundMail")
    for notice in RecoveryNotice.objects.select_related("ticket").order_by("pk").iterator():
        mail = OutboundMail.objects.create(
            ticket_id=notice.ticket_id,
            kind="recovery_requested",
            language=notice.ticket.language,
            **{name: getattr(notice, name) for name in NOTICE_FIELDS},
        )
        # created_at is auto_now_add: keep the notice's own
        OutboundMail.objects.filter(pk=mail.pk).update(created_at=notice.created_at)


def copy_notices_back(apps, schema_editor):
    RecoveryNotice = apps.get_model("tickets", "RecoveryNotice")
    OutboundMail = apps.get_model("tickets", "OutboundMail")
    for mail in OutboundMail.objects.filter(kind="recovery_requested").order_by("pk").iterator():
        notice = RecoveryNotice.objects.create(
            ticket_id=mail.ticket_id, **{name: getattr(mail, name) for name in NOTICE_FIELDS}
        )
        RecoveryNotice.objects.filter(pk=notice.pk).update(created_at=mail.created_at)


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0008_ticket_open_sla_due"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="OutboundMail",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("manager_link", "Confirmation link to the manager"),
                            ("recovery_requested", "“A recovery was requested” notice"),
                            ("security_alert", "Alert to the security officers"),
                            ("executed", "“Recovery carried out” notice"),
                            ("reference", "Reference to the alternate contact"),
                        ],
                        max_length=20,
                    ),
                ),
                (
                    "recipient",
                    models.CharField(
                        blank=True,
                        choices=[("account", "account holder"), ("manager", "manager of record")],
                        max_length=10,
                    ),
                ),
                ("context", models.JSONField(blank=True, default=dict)),
                ("language", models.CharField(default="en", max_length=8)),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("pending", "Waiting to be sent"),
                            ("sent", "Sent"),
                            ("cancelled", "No longer needed"),
                            ("abandoned", "Given up after repeated failures"),
                        ],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("next_attempt_at", models.DateTimeField()),
                ("last_error", models.CharField(blank=True, max_length=64)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "ordering": ["created_at", "id"],
            },
        ),
        migrations.AlterField(
            model_name="managerconfirmation",
            name="token_hash",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddConstraint(
            model_name="managerconfirmation",
            constraint=models.UniqueConstraint(
                condition=models.Q(("token_hash", ""), _negated=True),
                fields=("token_hash",),
                name="manager_confirmation_token_unique",
            ),
        ),
        migrations.AddField(
            model_name="outboundmail",
            name="confirmation",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="mails",
                to="tickets.managerconfirmation",
            ),
        ),
        migrations.AddField(
            model_name="outboundmail",
            name="ticket",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="mails",
                to="tickets.ticket",
            ),
        ),
        migrations.AddIndex(
            model_name="outboundmail",
            index=models.Index(fields=["state", "next_attempt_at"], name="mail_state_due"),
        ),
        migrations.AddIndex(
            model_name="outboundmail",
            index=models.Index(fields=["ticket", "state"], name="mail_ticket_state"),
        ),
        migrations.AddConstraint(
            model_name="outboundmail",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("state", "sent"), _negated=True),
                    ("sent_at__isnull", False),
                    _connector="OR",
                ),
                name="outbound_mail_sent_has_sent_at",
            ),
        ),
        migrations.AddConstraint(
            model_name="outboundmail",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("kind", "manager_link"), _negated=True),
                    ("confirmation__isnull", False),
                    _connector="OR",
                ),
                name="manager_link_mail_has_confirmation",
            ),
        ),
        migrations.AddConstraint(
            model_name="outboundmail",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("kind", "recovery_requested"), _negated=True),
                    models.Q(("recipient", ""), _negated=True),
                    _connector="OR",
                ),
                name="recovery_notice_mail_has_recipient",
            ),
        ),
        migrations.RunPython(copy_notices, copy_notices_back),
        migrations.DeleteModel(
            name="RecoveryNotice",
        ),
        migrations.AddConstraint(
            model_name="outboundmail",
            constraint=models.UniqueConstraint(
                condition=models.Q(("kind", "recovery_requested")),
                fields=("ticket", "recipient"),
                name="one_recovery_notice_per_recipient",
            ),
        ),
    ]

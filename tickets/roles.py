"""Staff roles: Django groups carrying permissions. A person may hold several; the workflow
forbids one person doing two steps of the same case."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import models


class Role(models.TextChoices):
    AGENT = "helpdesk_agent", "Helpdesk agent"
    APPROVER = "approver", "Approver"
    SECURITY = "security_officer", "Security officer"
    AUDITOR = "auditor", "Auditor"


# app_label.codename for each role; the data migration creates the groups from this table.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.AGENT: [
        "tickets.view_queue",
        "tickets.work_ticket",
        "tickets.verify_identity",
        "graphops.retry_graphoperation",  # migration tickets.0004
    ],
    Role.APPROVER: ["tickets.view_queue", "tickets.approve_recovery"],
    Role.SECURITY: [
        "tickets.view_queue",
        "tickets.approve_recovery",
        "tickets.approve_privileged",
        "tickets.handle_fraud",
        "audit.view_audit_trail",
        "graphops.retry_graphoperation",  # migration tickets.0004
    ],
    Role.AUDITOR: ["audit.view_audit_trail", "audit.export_audit_trail", "tickets.view_history"],
}


def has_role(user: object, role: Role) -> bool:
    return bool(
        getattr(user, "is_authenticated", False) and user.groups.filter(name=role.value).exists()  # type: ignore[attr-defined]
    )


def sync_roles() -> None:
    """Make the role groups carry exactly ROLE_PERMISSIONS (idempotent).

    The data migrations create the roles; this restores them where something wiped the table
    (a transactional test's flush, a careless admin) without another migration.
    """
    for role, dotted in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = [
            Permission.objects.get(content_type__app_label=app, codename=codename)
            for app, codename in (d.split(".") for d in dotted)
        ]
        group.permissions.set(perms)


def security_officer_emails() -> list[str]:
    """The addresses of the active security officers (the alerts' recipients)."""
    return list(
        get_user_model()
        .objects.filter(groups__name=Role.SECURITY.value, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )

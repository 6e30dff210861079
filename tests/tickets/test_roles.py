from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from tickets.roles import ROLE_PERMISSIONS, Role

pytestmark = pytest.mark.django_db


def test_roles_migration_creates_each_role_with_its_permissions() -> None:
    for role in Role:
        group = Group.objects.get(name=role.value)
        granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        assert granted == set(ROLE_PERMISSIONS[role])


def test_auditor_role_grants_no_ticket_action(auditor) -> None:  # type: ignore[no-untyped-def]
    assert auditor.has_perm("audit.view_audit_trail")
    for perm in ("tickets.work_ticket", "tickets.verify_identity", "tickets.approve_recovery"):
        assert not auditor.has_perm(perm)


def test_a_staff_member_may_hold_several_roles(agent) -> None:  # type: ignore[no-untyped-def]
    agent.groups.add(Group.objects.get(name=Role.APPROVER.value))
    assert agent.has_perm("tickets.verify_identity") and agent.has_perm("tickets.approve_recovery")

"""Seed the demo: one staff account per role, pre-enrolled in TOTP. Demo mode only."""

from __future__ import annotations

from typing import Any

from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import generate_totp_secret
from allauth.mfa.utils import encrypt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from tickets.roles import Role

DEMO_PASSWORD = "demo-recovery-2026"  # noqa: S105 -- demo mode only, printed on purpose
DEMO_STAFF = [
    ("agent", "Alex Agent", [Role.AGENT]),
    ("agent2", "Billie Agent", [Role.AGENT]),
    ("approver", "Casey Approver", [Role.APPROVER]),
    ("security", "Dana Security", [Role.SECURITY]),
    ("auditor", "Eli Auditor", [Role.AUDITOR]),
]


class Command(BaseCommand):
    help = "Create the demo staff accounts (demo mode only) and print how to sign in."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEMO_MODE:
            raise CommandError("seed_demo runs only in demo mode (RP_DEMO_MODE=true).")
        with transaction.atomic():
            for username, name, roles in DEMO_STAFF:
                self._ensure_staff(username, name, roles)
        self.stdout.write(f"Demo staff accounts (password for all: {DEMO_PASSWORD}):")
        for username, _name, roles in DEMO_STAFF:
            self.stdout.write(f"  {username:<10} roles: {', '.join(r.label for r in roles)}")
        self.stdout.write("Second factor: TOTP. Codes: bash scripts/manage.sh demo_totp")

    def _ensure_staff(self, username: str, name: str, roles: list[Role]) -> None:
        User = get_user_model()
        domain = settings.TENANT_DOMAINS[0]
        first, _, last = name.partition(" ")
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"email": f"{username}@{domain}", "first_name": first, "last_name": last},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        user.groups.set(Group.objects.filter(name__in=[r.value for r in roles]))
        if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
            Authenticator.objects.create(
                user=user,
                type=Authenticator.Type.TOTP,
                data={"secret": encrypt(generate_totp_secret())},
            )

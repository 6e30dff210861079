"""Print the current TOTP code of each demo staff account. Refused outside demo mode."""

from __future__ import annotations

import time
from typing import Any

from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from allauth.mfa.utils import decrypt
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tickets.management.commands.seed_demo import DEMO_STAFF


class Command(BaseCommand):
    help = "Print the current TOTP code of the demo staff accounts (demo mode only)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username", nargs="?", help="only this account")

    def handle(self, *args: Any, username: str | None = None, **options: Any) -> None:
        if not settings.DEMO_MODE:
            raise CommandError("demo_totp is refused outside demo mode: it would print live codes.")
        demo_users = [name for name, _, _ in DEMO_STAFF]
        authenticators = Authenticator.objects.filter(
            type=Authenticator.Type.TOTP, user__username__in=demo_users
        ).select_related("user")
        if username:
            authenticators = authenticators.filter(user__username=username)
        counter = int(time.time()) // 30
        left = 30 - int(time.time()) % 30
        for auth in authenticators.order_by("user__username"):
            code = format_hotp_value(hotp_value(decrypt(auth.data["secret"]), counter))
            self.stdout.write(f"{auth.user.get_username():<10} {code}")
        self.stdout.write(f"(valid for about {left} more seconds)")

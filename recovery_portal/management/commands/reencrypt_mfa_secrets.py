"""Re-encrypt every stored second factor under the first key of MFA_ENCRYPTION_KEYS."""

from __future__ import annotations

from typing import Any

from allauth.mfa.models import Authenticator
from django.core.management.base import BaseCommand
from django.db import transaction

from recovery_portal import mfa


class Command(BaseCommand):
    help = (
        "After putting a new key first in MFA_ENCRYPTION_KEYS: rewrite every TOTP and "
        "recovery-code seed under it, so that the old key can be removed."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        with transaction.atomic():
            rows = Authenticator.objects.select_for_update().filter(
                type__in=[Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES]
            )
            for authenticator in rows:
                data = mfa.rotated_data(mfa.encrypted_data(authenticator.data))
                Authenticator.objects.filter(pk=authenticator.pk).update(data=data)
                count += 1
        self.stdout.write(f"Re-encrypted {count} authenticators under the first key.")

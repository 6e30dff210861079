"""Encrypt the second factors allauth stored in clear before MFA_ADAPTER encrypted them.

TOTP seeds (data["secret"]) and recovery-code seeds (data["seed"], data["migrated_codes"])
become Fernet tokens under the first key of MFA_ENCRYPTION_KEYS; rows already encrypted are
checked to open with the configured keys (the migration stops otherwise) and left alone.
Reversible: going back decrypts them.
"""

from django.db import migrations

from recovery_portal import mfa


def _rewrite(apps, change):
    Authenticator = apps.get_model("mfa", "Authenticator")
    for authenticator in Authenticator.objects.filter(type__in=["totp", "recovery_codes"]):
        data = change(authenticator.data)
        if data != authenticator.data:
            Authenticator.objects.filter(pk=authenticator.pk).update(data=data)


def encrypt_existing(apps, schema_editor):
    _rewrite(apps, mfa.encrypted_data)


def decrypt_existing(apps, schema_editor):
    _rewrite(apps, mfa.decrypted_data)


class Migration(migrations.Migration):
    dependencies = [("mfa", "0003_authenticator_type_uniq")]
    operations = [migrations.RunPython(encrypt_existing, decrypt_existing)]

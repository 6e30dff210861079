"""recovery_portal/mfa.py: staff second factors are Fernet tokens in the database — enrolled
through allauth's own pages, read back at sign-in, across a key rotation — and the migration
encrypts the rows stored in clear before."""

from __future__ import annotations

import io
import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from cryptography.fernet import Fernet
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from recovery_portal import mfa
from tests.conftest import enrol_totp, totp_code
from tests.factories import STAFF_PASSWORD, UserFactory
from tests.security.test_secret_scan import Scan, scan_database

pytestmark = pytest.mark.django_db
MIGRATION = ("recovery_portal", "0001_encrypt_mfa_secrets")


def current_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def enrol_through_allauth(client, user) -> str:  # type: ignore[no-untyped-def]
    """The user, signed in with the password only, enrols TOTP on allauth's pages; returns the
    seed their authenticator app was shown."""
    client.post("/accounts/login/", {"login": user.username, "password": STAFF_PASSWORD})
    client.post("/accounts/reauthenticate/", {"password": STAFF_PASSWORD})
    page = client.get("/accounts/2fa/totp/activate/")
    secret = page.context["form"].secret
    done = client.post("/accounts/2fa/totp/activate/", {"code": current_code(secret)})
    assert done.status_code == 302, done.content
    return secret


def sign_in_with_totp(client, user) -> int:  # type: ignore[no-untyped-def]
    """Password then TOTP code at allauth's sign-in; the status of the queue afterwards."""
    client.logout()
    cache.clear()  # allauth refuses a code used twice; these tests sign in again within 30 s
    client.post("/accounts/login/", {"login": user.username, "password": STAFF_PASSWORD})
    client.post("/accounts/2fa/authenticate/", {"code": totp_code(user)})
    return client.get("/staff/queue/").status_code


def test_totp_enrolled_on_allauths_pages_is_nowhere_in_clear_in_the_database(client) -> None:  # type: ignore[no-untyped-def]
    # given an agent who enrols TOTP (and so gets recovery codes) through allauth's own pages
    agent = UserFactory(username="newagent", roles=["helpdesk_agent"])
    secret = enrol_through_allauth(client, agent)
    codes = RecoveryCodes(Authenticator.objects.get(user=agent, type="recovery_codes"))
    seed = mfa.decrypt(codes.instance.data["seed"])
    # when every text column of every table is read
    scan = Scan(secrets={"totp seed": secret, "recovery seed": seed})
    assert scan_database(scan) > 0
    # then neither seed is there, in any encoding
    assert scan.hits() == {"totp seed": set(), "recovery seed": set()}
    stored = Authenticator.objects.get(user=agent, type="totp").data["secret"]
    assert stored.startswith("gAAAAA") and mfa.decrypt(stored) == secret
    # and signing in with the code from the app still works
    assert sign_in_with_totp(client, agent) == 200


def test_a_rotated_key_still_reads_the_old_rows_and_the_rewrite_drops_it(client, settings) -> None:  # type: ignore[no-untyped-def]
    # given an agent enrolled under the current key
    agent = UserFactory(username="agent", roles=["helpdesk_agent"])
    enrol_totp(agent)
    old_key = settings.MFA_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    # when a new key is put first: the old row still opens
    settings.MFA_ENCRYPTION_KEYS = [new_key, old_key]
    assert sign_in_with_totp(client, agent) == 200
    # and once every row is rewritten, the old key can go
    call_command("reencrypt_mfa_secrets", stdout=io.StringIO())
    settings.MFA_ENCRYPTION_KEYS = [new_key]
    assert sign_in_with_totp(client, agent) == 200
    # while the old key alone opens nothing any more
    settings.MFA_ENCRYPTION_KEYS = [old_key]
    with pytest.raises(mfa.InvalidToken):
        totp_code(agent)


def test_decrypt_never_hands_back_clear_text() -> None:
    # A clear seed left in a row (migration not run) fails loudly instead of being used.
    with pytest.raises(mfa.InvalidToken):
        mfa.decrypt("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")


def test_migration_encrypts_the_seeds_stored_in_clear_and_can_be_reversed() -> None:
    # given the database as it was before: allauth's tables, seeds in clear
    executor = MigrationExecutor(connection)
    executor.migrate([("recovery_portal", None)])
    user = UserFactory(username="old")
    totp = Authenticator.objects.create(
        user=user, type="totp", data={"secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"}
    )
    codes = Authenticator.objects.create(
        user=user,
        type="recovery_codes",
        data={"seed": "ab" * 40, "used_mask": 0, "migrated_codes": ["12345678"]},
    )
    # when the migration runs
    executor = MigrationExecutor(connection)
    executor.migrate([MIGRATION])
    # then every seed is a token that opens to the old value
    totp.refresh_from_db()
    codes.refresh_from_db()
    assert mfa.decrypt(totp.data["secret"]) == "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    assert mfa.decrypt(codes.data["seed"]) == "ab" * 40
    assert [mfa.decrypt(c) for c in codes.data["migrated_codes"]] == ["12345678"]
    assert codes.data["used_mask"] == 0
    # and an encrypted row is left as it is
    assert mfa.encrypted_data(totp.data) == totp.data
    # and going back restores the clear rows
    MigrationExecutor(connection).migrate([("recovery_portal", None)])
    totp.refresh_from_db()
    assert totp.data["secret"] == "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    MigrationExecutor(connection).migrate([MIGRATION])

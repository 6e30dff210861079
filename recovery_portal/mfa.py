"""Second factors encrypted at rest: allauth's MFA adapter with Fernet.

allauth stores each TOTP seed (``Authenticator.data["secret"]``) and each recovery-code seed
(``data["seed"]``, and ``data["migrated_codes"]`` for codes imported from elsewhere) through
``MFAAdapter.encrypt``/``decrypt``; its default returns the text unchanged, so a database dump
would hand out every staff second factor. Here they are Fernet tokens under the keys of
``MFA_ENCRYPTION_KEYS``: the first key encrypts, every key decrypts (MultiFernet), so a new key
is put first, ``manage.py reencrypt_mfa_secrets`` rewrites every row with it, and the old key
is then dropped (README: Encrypted second factors).

A security key (WebAuthn) stores a public key only: nothing secret to encrypt.
"""

from __future__ import annotations

import functools
from typing import Any

from allauth.mfa.adapter import DefaultMFAAdapter
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# A Fernet token's first bytes (version 0x80, then the timestamp), base64url-encoded. Neither a
# base32 TOTP seed nor a hex recovery seed can start so, which tells old clear rows apart.
_FERNET_PREFIX = "gAAAAA"


class EncryptedMFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        return decrypt(encrypted_text)


@functools.lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("MFA_ENCRYPTION_KEYS is empty.")
    return MultiFernet([Fernet(key) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.MFA_ENCRYPTION_KEYS))


def encrypt(text: str) -> str:
    return _current().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    """The clear text; InvalidToken when no configured key opens it (never the input back)."""
    return _current().decrypt(token.encode()).decode()


def is_encrypted(value: str) -> bool:
    return value.startswith(_FERNET_PREFIX)


def rotate(token: str) -> str:
    """The same secret, encrypted under the first key."""
    return _current().rotate(token.encode()).decode()


# --- Every encrypted field of an authenticator, for the data migration and the rotation -------


def _map_fields(data: dict[str, Any], change: Any) -> dict[str, Any]:
    result = dict(data)
    for name in ("secret", "seed"):
        if isinstance(result.get(name), str):
            result[name] = change(result[name])
    if isinstance(result.get("migrated_codes"), list):
        result["migrated_codes"] = [change(code) for code in result["migrated_codes"]]
    return result


def encrypted_data(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every secret field encrypted; fields already encrypted are checked to open
    with the configured keys (InvalidToken if not) and left as they are."""

    def change(value: str) -> str:
        if is_encrypted(value):
            decrypt(value)
            return value
        return encrypt(value)

    return _map_fields(data, change)


def decrypted_data(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every secret field in clear (the migration's way back)."""
    return _map_fields(data, lambda value: decrypt(value) if is_encrypted(value) else value)


def rotated_data(data: dict[str, Any]) -> dict[str, Any]:
    return _map_fields(data, rotate)


__all__ = [
    "EncryptedMFAAdapter",
    "InvalidToken",
    "decrypt",
    "decrypted_data",
    "encrypt",
    "encrypted_data",
    "rotated_data",
]

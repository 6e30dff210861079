"""Encryption of the one secret graphops ever holds (a TAP), between its creation and its reveal."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class SealBroken(Exception):
    """The ciphertext cannot be opened with the configured key (key rotated or data damaged)."""


def _fernet() -> Fernet:
    return Fernet(settings.TAP_ENCRYPTION_KEY.encode())


def seal(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def unseal(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SealBroken("The stored secret cannot be decrypted with TAP_ENCRYPTION_KEY.") from None

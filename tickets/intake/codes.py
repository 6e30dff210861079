"""Claim codes and references: made, normalised, hashed, checked."""

from __future__ import annotations

import logging
import secrets

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

from tickets.models import (
    Ticket,
)

logger = logging.getLogger(__name__)

# Crockford's base32: no I, L, O or U, so a code read out on the phone is not misheard.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CLAIM_CODE_LENGTH = 16  # 16 symbols × 5 bits = 80 bits of entropy
REFERENCE_LENGTH = 8  # "RP-XXXX-XXXX": not a secret, only short and unambiguous
_CLAIM_HASH_PREFIX = "hmac-sha256$"
_CLAIM_SALT = "tickets.intake.claim_code"


# --- Codes ---------------------------------------------------------------------------------


def _random_symbols(length: int) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def new_claim_code() -> str:
    """A fresh claim code, grouped for reading: XXXX-XXXX-XXXX-XXXX (80 bits)."""
    raw = _random_symbols(CLAIM_CODE_LENGTH)
    return "-".join(raw[i : i + 4] for i in range(0, CLAIM_CODE_LENGTH, 4))


_LOOK_ALIKES = str.maketrans("ILO", "110")


def normalize_code(value: str) -> str:
    """What a person types, as the canonical symbols: case, spaces, dashes and look-alikes."""
    cleaned = value.upper().translate(_LOOK_ALIKES)
    return "".join(ch for ch in cleaned if ch not in " -\t")


def normalize_reference(value: str) -> str:
    symbols = normalize_code(value)
    if symbols.startswith("RP"):
        symbols = symbols[2:]
    if len(symbols) != REFERENCE_LENGTH:
        return ""
    return f"RP-{symbols[:4]}-{symbols[4:]}"


def new_reference() -> str:
    while True:
        raw = _random_symbols(REFERENCE_LENGTH)
        reference = f"RP-{raw[:4]}-{raw[4:]}"
        if not Ticket.objects.filter(reference=reference).exists():
            return reference


def hash_claim_code(reference: str, code: str, *, secret: str | None = None) -> str:
    """Keyed hash of a claim code, bound to its ticket's reference.

    HMAC-SHA256 keyed from SECRET_KEY: with 80 bits of entropy a slow hash adds nothing, and a
    stolen database alone does not let anyone test guesses offline (the key is not in it).
    """
    digest = salted_hmac(
        _CLAIM_SALT,
        f"{reference}:{normalize_code(code)}",
        secret=secret,
        algorithm="sha256",
    ).hexdigest()
    return _CLAIM_HASH_PREFIX + digest


def claim_code_matches(ticket_reference: str, stored_hash: str, code: str) -> bool:
    """Constant-time comparison, also against SECRET_KEY_FALLBACKS (key rotation)."""
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    matched = False
    for key in keys:
        candidate = hash_claim_code(ticket_reference, code, secret=key)
        matched |= constant_time_compare(candidate, stored_hash)
    return matched


_DUMMY_REFERENCE = "RP-0000-0000"
_DUMMY_HASH = _CLAIM_HASH_PREFIX + "0" * 64


def find_ticket_by_claim(reference: str, code: str) -> Ticket | None:
    """The ticket whose reference and claim code both match, else None.

    An unknown reference costs the same hashing as a wrong code, so the two cannot be told
    apart by their answer or (within reason) by their timing.
    """
    ref = normalize_reference(reference)
    ticket = Ticket.objects.filter(reference=ref).first() if ref else None
    if ticket is None:
        claim_code_matches(_DUMMY_REFERENCE, _DUMMY_HASH, code)
        return None
    if not claim_code_matches(ticket.reference, ticket.claim_code_hash, code):
        return None
    return ticket

"""Encryption at rest for secrets we must be able to read back (carrier auth tokens).

Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`. FIELD_ENCRYPTION_KEY may hold several comma-separated keys:
the first encrypts, all decrypt, so keys can be rotated. Without it the key is derived from SECRET_KEY.
"""

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

__all__ = ["InvalidToken", "decrypt", "encrypt"]


@cache
def _fernet() -> MultiFernet:
    raw = [k.strip() for k in settings.FIELD_ENCRYPTION_KEY.split(",") if k.strip()]
    if not raw:
        digest = hashlib.sha256(b"secdesk-field-encryption:" + settings.SECRET_KEY.encode()).digest()
        raw = [base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(k) for k in raw])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    return _fernet().decrypt(ciphertext.encode()).decode()

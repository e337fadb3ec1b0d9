"""The server's master key: Arc tokens are encrypted with it (AES-256-GCM) before they are stored.

``MEMTRACE_MASTER_KEY`` is the base64 of 32 bytes; each token gets a random 12-byte nonce; no associated data
(spec §6.10). The key never leaves the process: the metadata store sees only ciphertext.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping

from memtrace.errors import ServiceUnavailableError

from ..config import ConfigError

MASTER_KEY_ENV = "MEMTRACE_MASTER_KEY"


class MasterKey:
    """AES-256-GCM under the server's master key."""

    def __init__(self, key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(key) != 32:
            raise ConfigError(f"{MASTER_KEY_ENV} must be the base64 of 32 bytes (it decodes to {len(key)})")
        self._aead = AESGCM(key)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MasterKey | None:
        value = (os.environ if env is None else env).get(MASTER_KEY_ENV)
        if not value:
            return None
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"{MASTER_KEY_ENV} is not valid base64") from None
        return cls(raw)

    def encrypt(self, plaintext: str) -> tuple[bytes, bytes]:
        """(ciphertext with its tag, nonce)."""
        nonce = os.urandom(12)
        return self._aead.encrypt(nonce, plaintext.encode(), None), nonce

    def decrypt(self, ciphertext: bytes, nonce: bytes) -> str:
        from cryptography.exceptions import InvalidTag

        try:
            return self._aead.decrypt(nonce, ciphertext, None).decode()
        except InvalidTag:
            raise ConfigError(f"{MASTER_KEY_ENV} is not the key the Arc tokens were encrypted with") from None


def require_master_key(master: MasterKey | None) -> MasterKey:
    if master is None:
        raise ServiceUnavailableError(
            f"{MASTER_KEY_ENV} is not set: the server needs it to store and use Arc tokens "
            "(base64 of 32 random bytes, e.g. `openssl rand -base64 32`)",
            retry_after=None,
        )
    return master

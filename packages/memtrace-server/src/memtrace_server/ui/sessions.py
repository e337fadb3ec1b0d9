"""Dashboard sign-in sessions: a sealed cookie that carries the API key, and the CSRF tokens bound to it.

The cookie is a Fernet token (AES-128-CBC, then HMAC-SHA256 over it and a timestamp) made with a key derived
from ``ui.session_secret``, so every replica given the same secret accepts it. It holds the API key itself,
encrypted: each request re-verifies the key through the server's `Authenticator` (cached, like every API call),
so revoking the key ends its dashboard sessions too, within the same bound as the REST API. The cookie is
``HttpOnly`` (JavaScript never sees the key), ``SameSite=Strict`` and expires after ``ui.session_ttl_seconds``;
the timestamp inside is checked against the same TTL, so an old cookie replayed after its ``Max-Age`` fails.

CSRF: every state-changing form carries ``HMAC(secret, session id)``; the sign-in form, which comes before any
session, carries ``HMAC(secret, pre-session cookie)``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

SESSION_COOKIE = "memtrace_ui"
PRE_SESSION_COOKIE = "memtrace_ui_pre"
COOKIE_PATH = "/ui"
SECRET_FILENAME = "ui_session_secret"
MAX_COOKIE_CHARS = 4096


@dataclass(frozen=True, slots=True)
class SessionData:
    """What a session cookie holds once opened."""

    api_key: str
    session_id: str
    issued_at: int


def load_or_create_secret(configured: str, data_dir: Path) -> bytes:
    """The configured secret, else the one kept in ``<data_dir>/ui_session_secret`` (created 0600 on first
    use; a replica that loses the race to create it reads the winner's)."""
    if configured:
        return configured.encode("utf-8")
    path = data_dir / SECRET_FILENAME
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # the creator may not have written it yet
            value = path.read_bytes().strip()
            if value:
                return value
            time.sleep(0.01)
        raise RuntimeError(f"{path} is empty: delete it or set ui.session_secret") from None
    with os.fdopen(fd, "wb") as out:
        out.write(secrets.token_urlsafe(48).encode("ascii"))
        out.flush()
        os.fsync(out.fileno())
    return path.read_bytes().strip()


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return hmac.new(secret, b"memtrace-ui:" + purpose, hashlib.sha256).digest()


class SessionSealer:
    """Seals and opens session cookies, and makes and checks CSRF tokens."""

    def __init__(self, secret: bytes, ttl_seconds: float) -> None:
        self.ttl = int(ttl_seconds)
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret, b"cookie")))
        self._csrf_key = _derive(secret, b"csrf")

    def seal(self, api_key: str, *, now: int | None = None) -> str:
        """A new session's cookie value for `api_key`."""
        issued = int(time.time()) if now is None else now
        payload = json.dumps({"k": api_key, "s": secrets.token_urlsafe(16)}, separators=(",", ":"))
        return self._fernet.encrypt_at_time(payload.encode("utf-8"), issued).decode("ascii")

    def open(self, cookie: str | None) -> SessionData | None:
        """The session in `cookie`, or None when it is missing, forged, altered or expired."""
        if not cookie or len(cookie) > MAX_COOKIE_CHARS:
            return None
        try:
            token = cookie.encode("ascii")
            payload = json.loads(self._fernet.decrypt(token, ttl=self.ttl))
            issued = self._fernet.extract_timestamp(token)
            return SessionData(api_key=str(payload["k"]), session_id=str(payload["s"]), issued_at=issued)
        except (InvalidToken, UnicodeError, ValueError, KeyError, TypeError):
            return None

    def csrf_token(self, binding: str) -> str:
        """The token forms carry for a session id (or a pre-session cookie value)."""
        return hmac.new(self._csrf_key, binding.encode("utf-8"), hashlib.sha256).hexdigest()

    def csrf_ok(self, binding: str | None, token: str | None) -> bool:
        if not binding or not token:
            return False
        return hmac.compare_digest(self.csrf_token(binding), token)

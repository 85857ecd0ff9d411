"""Signed session cookies and CSRF tokens, pure: no request, no clock but the
one passed in. A session is a small JSON object (who, operator or not, its CSRF
secret, when it ends) with an HMAC-SHA256 signature; nothing in it is secret,
everything in it is trusted only once the signature checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

SESSION_COOKIE = "codegen_bot_session"
STATE_COOKIE = "codegen_bot_oauth_state"
SESSION_SECONDS = 8 * 3600  # GitHub's user tokens last as long: sign in again after
MAX_COOKIE_CHARS = 2048


@dataclass(frozen=True)
class Session:
    """A signed-in person (`login`), an operator (`admin`) or both."""

    login: str
    admin: bool
    csrf: str
    expires: int

    def to_json(self) -> dict[str, object]:
        return {"u": self.login, "a": self.admin, "c": self.csrf, "e": self.expires}


def derive_key(*material: str | None) -> bytes:
    """The signing key from the first secret the server has (SESSION_SECRET, else
    the App's private key or ADMIN_TOKEN): every process of one deployment
    derives the same key, and it is never the secret itself."""
    for value in material:
        if value:
            return hmac.new(value.encode(), b"codegen-bot dashboard sessions", "sha256").digest()
    raise ValueError("no secret to sign sessions with")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())


def new_session(login: str, *, admin: bool, now: float) -> Session:
    return Session(login, admin, secrets.token_urlsafe(24), int(now) + SESSION_SECONDS)


def sign(key: bytes, session: Session) -> str:
    body = _b64(json.dumps(session.to_json(), separators=(",", ":")).encode())
    return f"{body}.{_mac(key, body)}"


def verify(key: bytes, cookie: str | None, now: float) -> Session | None:
    """The session a cookie holds, None for anything forged, altered, expired or
    malformed (never an exception: the cookie is the visitor's input)."""
    # What we sign is ASCII; anything else would make hmac.compare_digest raise.
    if not cookie or len(cookie) > MAX_COOKIE_CHARS or cookie.count(".") != 1:
        return None
    if not cookie.isascii():
        return None
    body, mac = cookie.split(".")
    if not hmac.compare_digest(mac, _mac(key, body)):
        return None
    try:
        data = json.loads(_unb64(body))
        session = Session(str(data["u"]), data["a"] is True, str(data["c"]), int(data["e"]))
    except (ValueError, KeyError, TypeError):
        return None
    return session if session.expires > now else None


def session_hash(session: Session) -> bytes:
    """What names a session once it is signed out: a hash of its random CSRF
    secret (the secret itself is never stored)."""
    return hashlib.sha256(session.csrf.encode()).digest()


def csrf_token(key: bytes, session: Session, action: str) -> str:
    """The token a form of this session carries for `action` (a path): bound to
    the session's secret, so another visitor's token or another form's fails."""
    return _mac(key, f"{session.csrf}|{action}")


def csrf_ok(key: bytes, session: Session | None, action: str, token: str | None) -> bool:
    if session is None or not token or not token.isascii():
        return False
    return hmac.compare_digest(token, csrf_token(key, session, action))


def sign_value(key: bytes, value: str) -> str:
    """A short value (the OAuth state) with its signature, for a cookie."""
    return f"{value}.{_mac(key, 'state|' + value)}"


def unsign_value(key: bytes, signed: str | None) -> str | None:
    if not signed or signed.count(".") != 1 or len(signed) > 512 or not signed.isascii():
        return None
    value, mac = signed.split(".")
    return value if hmac.compare_digest(mac, _mac(key, "state|" + value)) else None

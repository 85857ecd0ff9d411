"""Who may register the App: the operator, and nobody else.

An unconfigured server on a public address would otherwise let any visitor
register their own App and so take over the bot (and spend the operator's
Codegen key). Two kinds of request may register:

- one from this machine: the peer is loopback and no proxy header says it
  speaks for someone else (a reverse proxy on the same host connects from
  127.0.0.1 too, and adds X-Forwarded-For), so `make run` stays one click;
- one from a browser that opened the set-up URL printed in the log at
  start-up: its token (random, or SETUP_TOKEN) is traded for an HttpOnly
  cookie holding an HMAC of it, never the token itself.

Both stop counting once the App is configured."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
from collections.abc import Mapping

from aiohttp import web

from app.observability.logs import redactor

log = logging.getLogger(__name__)

OPERATOR_COOKIE = "codegen_bot_operator"
SETUP_PATH = "/setup"
TOKEN_PARAM = "t"  # noqa: S105 - the query parameter's name, not a token
OPERATOR_TTL = 4 * 3600  # long enough to register; the log's URL works again after
# Headers a proxy adds for the client it speaks for: any one makes a loopback peer remote.
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP", "Fly-Client-IP")


def is_local(remote: str | None, headers: Mapping[str, str]) -> bool:
    """Whether the request comes from this machine itself, not through a proxy."""
    if not remote or any(name in headers for name in PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def setup_url(public_url: str | None, host: str, port: int, token: str) -> str:
    """The URL the operator opens: PUBLIC_URL, else this server's HOST:PORT (a
    wildcard bind is reached as localhost)."""
    if public_url:
        base = public_url.rstrip("/")
    else:
        shown = "localhost" if host in {"", "0.0.0.0", "::", "[::]"} else host  # noqa: S104
        if ":" in shown and not shown.startswith("["):
            shown = f"[{shown}]"
        base = f"http://{shown}:{port}"
    return f"{base}{SETUP_PATH}?{TOKEN_PARAM}={token}"


class SetupGate:
    """The set-up token of one unconfigured server and the cookie it buys."""

    def __init__(self, token: str | None) -> None:
        self._token = token
        self._key = secrets.token_bytes(32)

    @property
    def open(self) -> bool:
        """Whether a token can still be traded (none once the App is configured)."""
        return self._token is not None

    @property
    def token(self) -> str | None:
        return self._token

    def announce(self, public_url: str | None, host: str, port: int, *, pinned: bool) -> None:
        """Print the set-up URL once (a pinned SETUP_TOKEN is only named), then
        have every later log line scrub the token."""
        if self._token is None:
            return
        shown = "<SETUP_TOKEN>" if pinned else self._token
        log.warning(
            "GitHub App not configured: to register it from another machine, open %s "
            "(from this machine, http://localhost:%d/ needs no token)",
            setup_url(public_url, host, port, shown),
            port,
        )
        redactor.secrets = tuple(sorted({*redactor.secrets, self._token}, key=len, reverse=True))

    def close(self) -> None:
        """The App is configured: the token and every cookie bought with it stop working."""
        self._token = None

    def accepts(self, offered: str) -> bool:
        """Whether `offered` is the token, compared in constant time."""
        if self._token is None or not offered:
            return False
        return hmac.compare_digest(offered.encode(), self._token.encode())

    def cookie_value(self) -> str:
        assert self._token is not None
        return hmac.new(self._key, b"operator:" + self._token.encode(), hashlib.sha256).hexdigest()

    def is_operator(self, request: web.Request) -> bool:
        """Whether this browser traded the token (and the token still holds)."""
        cookie = request.cookies.get(OPERATOR_COOKIE, "")
        if self._token is None or not cookie:
            return False
        return hmac.compare_digest(cookie.encode(), self.cookie_value().encode())

    def may_register(self, request: web.Request) -> bool:
        return is_local(request.remote, request.headers) or self.is_operator(request)

    def grant(self, response: web.StreamResponse, *, secure: bool) -> None:
        response.set_cookie(
            OPERATOR_COOKIE,
            self.cookie_value(),
            max_age=OPERATOR_TTL,
            path="/",
            httponly=True,
            samesite="Lax",  # sent on GitHub's top-level redirect back to the callback
            secure=secure,
        )

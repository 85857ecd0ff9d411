"""Who the API's rate limits count, and how many requests they allow: kept
apart from the guard (which loads pydantic) so that the sign-in page, which
counts operator-key tries the same way, and the web server, which mounts the
API without loading it (app/api/mount.py), need neither."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

_ADDRESS_CHARS = 64


@dataclass(frozen=True)
class Limits:
    requests: int  # per window, per key and per client address
    window_seconds: float
    address_header: str | None = None  # set by the proxy in front: the client's address


def client_address(request: web.Request, header: str | None) -> str:
    """Whom the per-address limit counts: the address the trusted proxy names in
    `header` (its last entry, the one the proxy itself added, on the last line
    of that header if there are several), else the TCP peer."""
    if header:
        # A proxy may add its own header line after the client's: the last line counts.
        named = ",".join(request.headers.getall(header, [])).rsplit(",", 1)[-1].strip()
        if named:
            return named[:_ADDRESS_CHARS]
    return request.remote or "unknown"

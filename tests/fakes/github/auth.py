"""What a request passes before its handler: the App's JWT or an installation
token, the App's permissions, which repositories a token reaches, and the primary
and content-creation rate limits.
"""

from __future__ import annotations

import json
import time
from collections import deque

import jwt

from tests.fakes.github.contract import (
    _BAD_EXP,
    _BAD_IAT,
    _BAD_JWT,
    _EXP_TOO_FAR,
    _NO_ACCESS,
    PERMISSION_LEVELS,
    PRIMARY_RATE_LIMIT_DOCS,
    SECONDARY_RATE_LIMIT_DOCS,
)
from tests.fakes.github.routing import Ctx, GitHubError, _Bucket, _Identity, _Token
from tests.fakes.github.util import _is_int


class AuthMixin:
    """Authentication, permissions and rate limits (the state lives on `FakeGitHub`)."""

    def _peek_identity(self, auth: str) -> _Identity:
        cred = auth.partition(" ")[2].strip()
        tok = self._tokens.get(cred)
        if tok is not None:
            return (f"installation:{tok.installation_id}", self.rate_limit, True)
        if cred.count(".") == 2:
            return ("app", self.rate_limit, True)
        return ("ip:127.0.0.1", 60, False)

    def _check_jwt(self, auth: str) -> None:
        scheme, _, cred = auth.strip().partition(" ")
        if scheme.lower() != "bearer" or not cred.strip():
            raise GitHubError(401, _BAD_JWT)
        try:
            # signature only (RS256 and nothing else); the claims are checked below, the
            # way GitHub checks them (pyjwt's own claim checks differ, e.g. on `iss` types)
            decoded = jwt.PyJWS().decode_complete(
                cred.strip(), self.public_key_pem, algorithms=["RS256"]
            )
            claims = json.loads(decoded["payload"])
            if decoded["header"].get("alg") != "RS256" or not isinstance(claims, dict):
                raise GitHubError(401, _BAD_JWT)
        except (jwt.InvalidTokenError, ValueError):
            raise GitHubError(401, _BAD_JWT) from None
        now = time.time()
        iat, exp, iss = claims.get("iat"), claims.get("exp"), claims.get("iss")
        if not _is_int(iat) or iat > now + 60:
            raise GitHubError(401, _BAD_IAT)
        if not _is_int(exp) or exp <= now:
            raise GitHubError(401, _BAD_EXP)
        if exp - iat > 600:
            raise GitHubError(401, _EXP_TOO_FAR)
        if isinstance(iss, bool) or str(iss) not in (str(self.app_id), self.client_id):
            raise GitHubError(401, "Integration not found")

    def _check_token(self, auth: str) -> _Token:
        if not auth.strip():
            raise GitHubError(401, "Requires authentication")
        scheme, _, cred = auth.strip().partition(" ")
        tok = self._tokens.get(cred.strip())
        if scheme.lower() not in ("token", "bearer") or tok is None:
            raise GitHubError(401, "Bad credentials")
        if tok.expires_at <= self.clock() or tok.installation_id not in self.installations:
            raise GitHubError(401, "Bad credentials")
        if self.installations[tok.installation_id]["suspended_at"]:
            raise GitHubError(403, "This installation has been suspended")
        return tok

    def _check_permission(self, tok: _Token, needed: str | None) -> None:
        if needed is None:
            return
        for alt in needed.split("|"):
            scope, _, level = alt.partition(":")
            have = tok.permissions.get(scope, "none")
            if scope == "metadata" and tok.permissions:
                have = max(have, "read", key=PERMISSION_LEVELS.__getitem__)
            if PERMISSION_LEVELS[have] >= PERMISSION_LEVELS[level]:
                return
        raise GitHubError(403, _NO_ACCESS)

    def _resolve_repo(self, ctx: Ctx) -> None:
        full = self._repo_index.get(f"{ctx.params['owner']}/{ctx.params['repo']}".lower())
        tok = ctx.token
        assert tok is not None
        if (
            full is None
            or self._repo_installation.get(full) != tok.installation_id
            or (tok.repositories is not None and full not in tok.repositories)
        ):
            raise GitHubError(404, "Not Found")
        ctx.full_name = full
        ctx.repo = self.repos[full]

    def _bucket(self, key: str, limit: int) -> _Bucket:
        now = int(time.time())
        bucket = self._buckets.get(key)
        if bucket is None or bucket.reset <= now:
            bucket = self._buckets[key] = _Bucket(limit=limit, reset=now + 3600)
        return bucket

    def _count(self, identity: _Identity) -> None:
        key, limit, enforced = identity
        bucket = self._bucket(key, limit)
        if enforced and bucket.used >= bucket.limit:
            who = key.replace("installation:", "installation ID ")
            raise GitHubError(
                403,
                f"API rate limit exceeded for {who}.",
                documentation_url=PRIMARY_RATE_LIMIT_DOCS,
            )
        bucket.used += 1

    def _rate_headers(self, identity: _Identity) -> dict[str, str]:
        key, limit, _ = identity
        bucket = self._bucket(key, limit)
        return {
            "x-ratelimit-limit": str(bucket.limit),
            "x-ratelimit-remaining": str(max(bucket.limit - bucket.used, 0)),
            "x-ratelimit-reset": str(bucket.reset),
            "x-ratelimit-used": str(bucket.used),
            "x-ratelimit-resource": "core",
        }

    def _check_content_rate(self, installation_id: int) -> None:
        now = time.monotonic()
        times = self._content_times.setdefault(installation_id, deque())
        while times and times[0] <= now - 60:
            times.popleft()
        if len(times) >= self.content_creation_per_minute:
            raise GitHubError(
                403,
                "You have exceeded a secondary rate limit and have been temporarily blocked "
                "from content creation. Please retry your request again later. If you reach "
                "out to GitHub Support for help, please include the request ID {request_id}.",
                documentation_url=SECONDARY_RATE_LIMIT_DOCS,
                headers={"retry-after": "60"},
            )
        times.append(now)

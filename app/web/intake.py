"""`POST /api/github/webhooks`: verify, store with its job, acknowledge.

Nothing here talks to GitHub or Codegen; the request costs one HMAC, one JSON
parse and a share of one database statement."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from typing import Any, NamedTuple

import orjson
from aiohttp import web

from app.deliveries.store import BatchWriter, IncomingDelivery
from app.observability import metrics
from app.repo_settings.changes import pushed_to_default_branch
from app.web import delivery_body

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/api/github/webhooks"
MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
_MAX_GUID_LENGTH = 100

# Event names that may become a metrics label: the App's subscriptions in
# app.yml and those GitHub sends to every App. Any other name (a header
# anyone can set) would grow /metrics by one series per distinct value.
KNOWN_EVENTS = frozenset(
    {
        "issues",
        "issue_comment",
        "pull_request",
        "pull_request_review",
        "pull_request_review_comment",
        "check_run",
        "check_suite",
        "status",
        "repository",
        "push",
        "ping",
        "meta",
        "installation",
        "installation_repositories",
        "installation_target",
        "github_app_authorization",
    }
)
_MAX_ACTION_LABEL = 40
UNVERIFIED = "unverified"


def event_label(event: str, verified: bool) -> str:
    """The `event` label of a delivery: its name only once the signature holds
    and only for a known event, so that headers cannot mint series."""
    if not verified:
        return UNVERIFIED
    if not event:
        return "-"
    return event if event in KNOWN_EVENTS else "other"


def action_label(event: str, action: str | None) -> str:
    """The `action` label: a signed payload's action of a known event, kept
    short and plain ("-" otherwise)."""
    if (
        action is None
        or event not in KNOWN_EVENTS
        or len(action) > _MAX_ACTION_LABEL
        or not all(c.islower() or c == "_" for c in action)
    ):
        return "-"
    return action


class SignatureError(Exception):
    pass


def verify_signature(body: bytes, signature: str | None, secret: str | bytes) -> None:
    """Check `X-Hub-Signature-256`; the legacy sha1 header alone is not enough."""
    if not signature:
        raise SignatureError("missing X-Hub-Signature-256 header")
    if not signature.startswith("sha256="):
        raise SignatureError("X-Hub-Signature-256 must start with 'sha256='")
    key = secret.encode() if isinstance(secret, str) else secret
    expected = hmac.digest(key, body, hashlib.sha256).hex()
    if not hmac.compare_digest(signature[7:].encode(), expected.encode()):
        raise SignatureError("signature does not match the payload and the configured secret")


class Answer(NamedTuple):
    """What the intake says to one request, whichever HTTP layer carried it."""

    status: int
    fields: dict[str, object]
    action: str | None
    outcome: str

    def body(self) -> bytes:
        return orjson.dumps(self.fields)


_UNCONFIGURED = Answer(
    503,
    {
        "error": "GITHUB_WEBHOOK_SECRET is not configured, so this delivery "
        "cannot be verified; nothing was stored"
    },
    None,
    "unconfigured",
)
TOO_LARGE = Answer(413, {"error": "payload larger than 25 MB"}, None, "too_large")


def _response(answer: Answer) -> web.Response:
    response = web.Response(
        status=answer.status, body=answer.body(), content_type="application/json"
    )
    if answer.outcome == "too_large":
        response.force_close()  # do not wait for the rest of an unwanted body
    return response


# Events whose answer reads more of the body than its action and installation.
_READ_WHOLE = frozenset({"ping", "push"})


_UNVERIFIED_OUTCOMES = frozenset({"unconfigured", "too_large", "bad_signature"})

# The counter's children by (event, action, outcome) as received: `labels()`
# and the label checks cost about a tenth of the intake's own CPU per delivery
# when looked up each time. Bounded, since event and action come from outside;
# past the bound a child is looked up as before.
_MAX_CACHED_CHILDREN = 256
_children: dict[tuple[str, str | None, str], Any] = {}


def _deliveries_counter(event: str, action: str | None, outcome: str) -> Any:
    """The DELIVERIES child that counts this delivery."""
    verified = outcome not in _UNVERIFIED_OUTCOMES
    # Unverified requests share one key per outcome: anyone can send those.
    key = (event, action, outcome) if verified else ("", None, outcome)
    child = _children.get(key)
    if child is None:
        child = metrics.DELIVERIES.labels(
            event=event_label(event, verified),
            action=action_label(event, action) if verified else "-",
            outcome=outcome,
        )
        if len(_children) < _MAX_CACHED_CHILDREN:
            _children[key] = child
    return child


class IntakeLoad:
    """How many signed deliveries are waiting for their commit, for a worker in
    the same process (`serve`) to yield to: GitHub waits at most 10 s for an
    answer, while a stored job can wait a moment (app/queue/worker.py).
    Two integer operations a request; an Event only while someone waits."""

    def __init__(self) -> None:
        self.waiting = 0
        self._idle: asyncio.Event | None = None

    def busy(self) -> bool:
        """Whether a signed delivery is waiting for its commit."""
        return self.waiting > 0

    async def wait_idle(self) -> None:
        """Return once no delivery waits for its commit."""
        if self.waiting == 0:
            return
        if self._idle is None:
            self._idle = asyncio.Event()
        await self._idle.wait()

    def enter(self) -> None:
        self.waiting += 1

    def leave(self) -> None:
        self.waiting -= 1
        if self.waiting == 0 and self._idle is not None:
            self._idle.set()
            self._idle = None


class WebhookIntake:
    def __init__(self, secret: str | None, writer: BatchWriter) -> None:
        self.secret = secret.encode() if secret else None
        self.writer = writer
        self.load = IntakeLoad()

    def set_secret(self, secret: str | None) -> None:
        """Verify from the next delivery on with `secret` (the manifest flow
        registers the App while the server runs)."""
        self.secret = secret.encode() if secret else None

    async def handle(self, request: web.Request) -> web.Response:
        """aiohttp's route: requests the front (app/web/front.py) hands over,
        and every request in tests built on the app alone."""
        started = time.perf_counter()
        headers = request.headers
        event = headers.get("X-GitHub-Event", "")
        if not self.secret:
            answer = _UNCONFIGURED
        elif request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            answer = TOO_LARGE
        else:
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                answer = TOO_LARGE
            else:
                answer = await self.accept(
                    event,
                    headers.get("X-GitHub-Delivery", ""),
                    headers.get("X-Hub-Signature-256"),
                    "X-Hub-Signature" in headers,
                    body,
                )
        self.count(answer, event, started)
        return _response(answer)

    def count(self, answer: Answer, event: str, started: float) -> None:
        """Count one request's outcome and time, whichever layer carried it."""
        _deliveries_counter(event, answer.action, answer.outcome).inc()
        metrics.INTAKE_SECONDS.observe(time.perf_counter() - started)

    async def accept(
        self,
        event: str,
        delivery_id: str,
        signature: str | None,
        sha1_sent: bool,
        body: bytes,
    ) -> Answer:
        """Verify one whole delivery and store it with its job: the intake's
        decision, shared by aiohttp's route and the front's fast path."""
        if not self.secret:
            return _UNCONFIGURED
        try:
            verify_signature(body, signature, self.secret)
        except SignatureError as exc:
            if sha1_sent and "missing" in str(exc):
                reason = "only a sha1 X-Hub-Signature was sent; X-Hub-Signature-256 is required"
            else:
                reason = str(exc)
            return Answer(401, {"error": reason}, None, "bad_signature")

        if not event:
            return _bad("missing X-GitHub-Event header")
        if not delivery_id:
            return _bad("missing X-GitHub-Delivery header")
        if len(delivery_id) > _MAX_GUID_LENGTH or not delivery_id.isprintable():
            return _bad("X-GitHub-Delivery is not a delivery GUID")
        try:
            facts = delivery_body.read(body, whole=event in _READ_WHOLE)
        except delivery_body.NotJSON as exc:
            return _bad(str(exc))

        if event == "ping":
            # Echoed only as the string GitHub sends: any other JSON value may
            # nest deeper than orjson writes, and the answer could not be sent.
            zen = (facts.whole or {}).get("zen")
            zen = zen if isinstance(zen, str) else None
            return Answer(200, {"ok": True, "delivery": delivery_id, "zen": zen}, None, "ping")
        if event == "push" and not pushed_to_default_branch(facts.whole or {}):
            # Subscribed for the default branch only (settings are read there);
            # the agent's own pushes, tags and other branches are most pushes,
            # and a push body can be 25 MB: neither stored nor queued.
            return Answer(200, {"delivery": delivery_id, "status": "ignored"}, None, "ignored")

        action = facts.action
        delivery = IncomingDelivery(delivery_id, event, action, facts.installation_id, body)
        # Counted only once signed and whole: a slow or unsigned sender cannot
        # hold the worker back (app/queue/worker.py), GitHub's load does.
        self.load.enter()
        try:
            is_new = await self.writer.submit(delivery)
        except Exception:
            log.exception("could not store delivery %s", delivery_id)
            return Answer(
                503,
                {"error": "could not store the delivery; please redeliver"},
                action,
                "store_failed",
            )
        finally:
            self.load.leave()
        if not is_new:
            return Answer(
                200, {"delivery": delivery_id, "status": "duplicate"}, action, "duplicate"
            )
        return Answer(202, {"delivery": delivery_id, "status": "queued"}, action, "queued")


def _bad(reason: str) -> Answer:
    return Answer(400, {"error": reason}, None, "bad_request")

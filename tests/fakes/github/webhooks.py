"""Webhooks: the pinned @octokit/webhooks-examples payloads, signatures, deliveries
sent to the bot (listed and redelivered like GitHub's), and seeding the fake from
what a payload talks about.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import gzip
import hashlib
import hmac
import inspect
import json
import re
import time
import uuid
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlencode

import aiohttp

from tests.fakes.github.contract import DATA_DIR
from tests.fakes.github.routing import Ctx, GitHubError, Reply
from tests.fakes.github.util import _int_or, _iso

WEBHOOK_EXAMPLES = DATA_DIR / "webhooks-examples-7.6.1.json.gz"


@functools.cache
def _load_webhook_examples() -> list[dict[str, Any]]:
    return json.loads(gzip.decompress(WEBHOOK_EXAMPLES.read_bytes()))


def load_webhook_examples() -> list[dict[str, Any]]:
    """The pinned @octokit/webhooks-examples list (a fresh deep copy)."""
    return copy.deepcopy(_load_webhook_examples())


def webhook_example(event: str, action: str | None = None, index: int = 0) -> dict[str, Any]:
    """A deep copy of a real example payload for `event` (and `action`, if given)."""
    for entry in _load_webhook_examples():
        if entry["name"] != event:
            continue
        examples = [ex for ex in entry["examples"] if action is None or ex.get("action") == action]
        if len(examples) > index:
            return copy.deepcopy(examples[index])
        raise KeyError(f"{event}/{action}: {len(examples)} examples, no index {index}")
    raise KeyError(f"no webhook examples for event {event!r}")


def sign_webhook(body: bytes, secret: str | bytes) -> str:
    """`X-Hub-Signature-256` value: sha256= + hex HMAC-SHA256 of the raw body."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def _delivery_status(status_code: int) -> str:
    if 200 <= status_code < 300:
        return "OK"
    return f"Invalid HTTP Response: {status_code}"


class WebhooksMixin:
    """Webhook deliveries and seeding (the state lives on `FakeGitHub`)."""

    def seed_from_event(
        self, payload: dict[str, Any], *, installation_id: int | None = None
    ) -> None:
        """Make the fake know what a webhook payload talks about: its installation,
        repository, issue / pull request, comment and check run (real ids kept)."""
        inst_id = (payload.get("installation") or {}).get("id") or installation_id or 1
        repo = payload.get("repository")
        if inst_id not in self.installations:
            account = (repo or {}).get("owner", {}).get("login") or (
                (payload.get("installation") or {}).get("account") or {}
            ).get("login", "octo-org")
            self.add_installation(inst_id, account=account)
        if not repo:
            return
        full = repo["full_name"]
        if full.lower() not in self._repo_index:
            self.add_user(
                repo["owner"]["login"],
                user_id=repo["owner"]["id"],
                user_type=repo["owner"].get("type", "User"),
            )
            self.add_repo(
                full,
                repo_id=repo["id"],
                default_branch=repo.get("default_branch") or "main",
                installation_id=inst_id,
                private=bool(repo.get("private")),
            )
        full = self._canonical(full)
        for key in ("sender",):
            if payload.get(key):
                self._seed_user(payload[key])
        pr = payload.get("pull_request")
        issue = payload.get("issue")
        if pr and pr["number"] not in self.pulls[full]:
            self._seed_user(pr["user"])
            self.add_pull(
                full,
                pr["number"],
                title=pr.get("title") or "",
                body=pr.get("body"),
                user=pr["user"]["login"],
                head_sha=pr["head"]["sha"],
                head_ref=pr["head"]["ref"],
                base_ref=pr["base"]["ref"],
                labels=[lb["name"] for lb in pr.get("labels") or []],
                state=pr.get("state", "open"),
                draft=bool(pr.get("draft")),
                pull_id=pr["id"],
            )
        if issue and issue["number"] not in self.issues[full]:
            self._seed_user(issue["user"])
            labels = [lb["name"] for lb in issue.get("labels") or []]
            if issue.get("pull_request"):
                self.add_pull(
                    full,
                    issue["number"],
                    title=issue.get("title") or "",
                    body=issue.get("body"),
                    user=issue["user"]["login"],
                    labels=labels,
                    state=issue.get("state", "open"),
                )
            else:
                self.add_issue(
                    full,
                    issue["number"],
                    title=issue.get("title") or "",
                    body=issue.get("body"),
                    user=issue["user"]["login"],
                    labels=labels,
                    state=issue.get("state", "open"),
                    issue_id=issue["id"],
                    author_association=issue.get("author_association", "NONE"),
                )
        comment = payload.get("comment")
        if comment and "pull_request_review_id" in comment and pr:
            if comment["id"] not in self.review_comments:
                self._seed_user(comment["user"])
                self.add_review_comment(
                    full,
                    pr["number"],
                    comment.get("body") or "",
                    path=comment.get("path", ""),
                    line=comment.get("line"),
                    side=comment.get("side") or "RIGHT",
                    user=comment["user"]["login"],
                    comment_id=comment["id"],
                    review_id=comment.get("pull_request_review_id"),
                )
        elif comment and issue and comment["id"] not in self.comments:
            self._seed_user(comment["user"])
            stored = self.add_comment(
                full,
                issue["number"],
                comment.get("body") or "",
                user=comment["user"]["login"],
                comment_id=comment["id"],
                author_association=comment.get("author_association", "NONE"),
            )
            stored["created_at"] = comment.get("created_at", stored["created_at"])
        run = payload.get("check_run")
        if run and run["id"] not in self.check_runs:
            self.add_check_run(
                full,
                name=run["name"],
                head_sha=run["head_sha"],
                status=run.get("status", "queued"),
                conclusion=run.get("conclusion"),
                app_slug=(run.get("app") or {}).get("slug"),
                check_run_id=run["id"],
            )

    def _seed_user(self, user: dict[str, Any]) -> None:
        if user and user.get("login") and user["login"].lower() not in self.users:
            self.add_user(user["login"], user_id=user.get("id"), user_type=user.get("type", "User"))

    def add_delivery(
        self,
        *,
        event: str = "issues",
        action: str | None = None,
        guid: str | None = None,
        status_code: int = 200,
        installation_id: int | None = None,
        repository_id: int | None = None,
        redelivery: bool = False,
        duration: float = 0.05,
        delivered_at: str | None = None,
    ) -> dict[str, Any]:
        """A hook delivery as listed by GET /app/hook/deliveries (ids increase)."""
        delivery_id = self._next_id("delivery", 10_000_000_000)
        delivery = {
            "id": delivery_id,
            "guid": guid or str(uuid.uuid4()),
            "delivered_at": delivered_at or _iso(),
            "redelivery": redelivery,
            "duration": duration,
            "status": _delivery_status(status_code),
            "status_code": status_code,
            "event": event,
            "action": action,
            "installation_id": installation_id,
            "repository_id": repository_id,
            "throttled_at": None,
        }
        self.deliveries.append(delivery)
        return delivery

    async def send_webhook(
        self,
        target_url: str,
        event: str,
        payload: dict[str, Any] | bytes,
        *,
        secret: str | bytes,
        guid: str | None = None,
        hook_id: int = 1,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """POST a delivery the way GitHub does (signed, its headers, 10 s timeout) and
        record it in `deliveries` (so GET /app/hook/deliveries and redelivery see it)."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        data = json.loads(body)
        guid = guid or str(uuid.uuid4())
        key = secret.encode() if isinstance(secret, str) else secret
        hdrs = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/fake",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": guid,
            "X-GitHub-Hook-ID": str(hook_id),
            "X-GitHub-Hook-Installation-Target-Type": "integration",
            "X-GitHub-Hook-Installation-Target-ID": str(self.app_id),
            "X-Hub-Signature": "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest(),
            "X-Hub-Signature-256": sign_webhook(body, key),
            **(headers or {}),
        }
        return await self._post_delivery(
            target_url, event, data, body, hdrs, redelivery=False, timeout=timeout
        )

    async def _post_delivery(
        self,
        url: str,
        event: str,
        data: Any,
        body: bytes,
        headers: dict[str, str],
        *,
        redelivery: bool,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        started = time.monotonic()
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s:
                async with s.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    status_code = resp.status
        except TimeoutError:
            status_code = 0
        except aiohttp.ClientError:
            status_code = -1
        repo = data.get("repository") if isinstance(data, dict) else None
        inst = data.get("installation") if isinstance(data, dict) else None
        delivery = self.add_delivery(
            event=event,
            action=data.get("action") if isinstance(data, dict) else None,
            guid=headers["X-GitHub-Delivery"],
            status_code=max(status_code, 0),
            installation_id=(inst or {}).get("id"),
            repository_id=(repo or {}).get("id"),
            redelivery=redelivery,
            duration=round(time.monotonic() - started, 3),
        )
        if status_code == 0:
            delivery["status"] = "timed out"
        elif status_code == -1:
            delivery["status"] = "failed to connect to host"
        self._delivery_requests[delivery["id"]] = (url, body, headers)
        return delivery

    def _list_deliveries(self, ctx: Ctx) -> Reply:
        per_page = min(max(_int_or(ctx.query.get("per_page"), 30), 1), 100)
        items = sorted(self.deliveries, key=lambda d: d["id"], reverse=True)
        status = ctx.query.get("status")
        if status == "success":
            items = [d for d in items if 200 <= d["status_code"] < 300]
        elif status == "failure":
            items = [d for d in items if not 200 <= d["status_code"] < 300]
        cursor = ctx.query.get("cursor")
        if cursor:
            m = re.fullmatch(r"v1_(\d+)", cursor)
            if m is None:
                raise GitHubError(422, "Invalid cursor")
            items = [d for d in items if d["id"] < int(m[1])]
        page, rest = items[:per_page], items[per_page:]
        headers = {}
        if rest:
            q = {**ctx.query, "per_page": str(per_page), "cursor": f"v1_{page[-1]['id']}"}
            headers["Link"] = f'<{self.url}/app/hook/deliveries?{urlencode(q)}>; rel="next"'
        return 200, copy.deepcopy(page), headers

    def _redeliver(self, ctx: Ctx) -> Reply:
        delivery_id = ctx.int_param("delivery_id")
        original = next((d for d in self.deliveries if d["id"] == delivery_id), None)
        if original is None:
            raise GitHubError(404, "Not Found")
        self.redelivery_requests.append(delivery_id)
        stored = self._delivery_requests.get(delivery_id)
        if stored is not None:
            url, body, headers = stored
            self._spawn(
                self._post_delivery(
                    url, original["event"], json.loads(body), body, headers, redelivery=True
                )
            )
        else:
            self.add_delivery(
                event=original["event"],
                action=original["action"],
                guid=original["guid"],
                installation_id=original["installation_id"],
                repository_id=original["repository_id"],
                redelivery=True,
            )
        if self.on_redeliver is not None:
            result = self.on_redeliver(copy.deepcopy(original))
            if inspect.isawaitable(result):
                self._spawn(result)
        return 202, {}

    def _spawn(self, aw: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(aw)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

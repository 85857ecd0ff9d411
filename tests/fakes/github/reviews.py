"""Pull request reviews and review comments (with GitHub's diff positions)."""

from __future__ import annotations

import copy
from typing import Any

from tests.fakes.github.contract import REVIEW_STATES
from tests.fakes.github.issues import _reaction_summary
from tests.fakes.github.pulls import _HUNK, diff_lines
from tests.fakes.github.routing import Ctx, GitHubError, Reply
from tests.fakes.github.util import _int_or, _iso, _node_id


def _diff_hunk(patch: str, line: int, side: str = "RIGHT") -> tuple[str, int | None]:
    """GitHub's `diff_hunk` for a comment on `line` (the hunk header down to that line)
    and its `position` (lines below the file's first @@ header), or ("", None)."""
    lines = patch.splitlines()
    old = new = 0
    start = 0
    for i, text in enumerate(lines):
        m = _HUNK.match(text)
        if m:
            old, new, start = int(m[1]), int(m[2]), i
            continue
        if text.startswith("\\"):
            continue
        if text.startswith("+"):
            here, new = ("RIGHT", new), new + 1
        elif text.startswith("-"):
            here, old = ("LEFT", old), old + 1
        else:
            here = ("BOTH", new if side == "RIGHT" else old)
            old, new = old + 1, new + 1
        if here[1] == line and here[0] in (side, "BOTH"):
            return "\n".join(lines[start : i + 1]), i
    return "", None


class ReviewsMixin:
    """Reviews and review comments (the state lives on `FakeGitHub`)."""

    def reviews_on(self, full_name: str, pull_number: int) -> list[dict[str, Any]]:
        full = self._canonical(full_name)
        return [
            r
            for rid, r in sorted(self.reviews.items())
            if self._review_pull[rid] == (full, pull_number)
        ]

    def review_comments_on(
        self, full_name: str, pull_number: int, *, review_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Review comments on a pull (only those of one review, with review_id)."""
        full = self._canonical(full_name)
        return [
            c
            for cid, c in sorted(self.review_comments.items())
            if self._review_comment_pull[cid] == (full, pull_number)
            and review_id in (None, c["pull_request_review_id"])
        ]

    def add_review_comment(
        self,
        full_name: str,
        pull_number: int,
        body: str,
        *,
        path: str = "README.md",
        line: int | None = 1,
        side: str = "RIGHT",
        user: str | None = None,
        comment_id: int | None = None,
        review_id: int | None = None,
        commit_id: str | None = None,
        author_association: str = "NONE",
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A review comment on a line of the pull's diff (user None = the App's bot).
        `diff_hunk` and `position` are worked out from the file's patch when it has one."""
        full = self._canonical(full_name)
        pull = self.pulls[full][pull_number]
        if comment_id is None:
            comment_id = self._next_id("review_comment", 5_000_000)
        else:
            self._seen_id("review_comment", comment_id)
        now = _iso()
        api = f"{self.url}/repos/{full}/pulls/comments/{comment_id}"
        html = f"{pull['html_url']}#discussion_r{comment_id}"
        patch = next(
            (f.get("patch") for f in self.pull_files[full][pull_number] if f["filename"] == path),
            None,
        )
        hunk, position = _diff_hunk(patch, line, side) if patch and line else ("", None)
        commit = commit_id or pull["head"]["sha"]
        comment = {
            "id": comment_id,
            "node_id": _node_id("PullRequestReviewComment", comment_id),
            "url": api,
            "html_url": html,
            "pull_request_url": pull["url"],
            "pull_request_review_id": review_id,
            "diff_hunk": hunk,
            "path": path,
            "position": position,
            "original_position": position,
            "line": line,
            "original_line": line,
            "side": side,
            "start_line": None,
            "original_start_line": None,
            "start_side": None,
            "subject_type": "line",
            "commit_id": commit,
            "original_commit_id": commit,
            "body": body,
            "user": self.bot_user() if user is None else self.user(user),
            "created_at": now,
            "updated_at": now,
            "author_association": author_association,
            "_links": {
                "self": {"href": api},
                "html": {"href": html},
                "pull_request": {"href": pull["url"]},
            },
            "reactions": _reaction_summary(api),
            **(extra or {}),
        }
        if comment.get("start_line") is not None:
            comment["original_start_line"] = comment["start_line"]
            comment["start_side"] = comment.get("start_side") or side
        self.review_comments[comment_id] = comment
        self._review_comment_pull[comment_id] = (full, pull_number)
        return comment

    def add_review(
        self,
        full_name: str,
        pull_number: int,
        body: str | None = "",
        *,
        user: str | None = "octocat",
        state: str = "COMMENTED",
        commit_id: str | None = None,
        review_id: int | None = None,
        author_association: str = "NONE",
    ) -> dict[str, Any]:
        """A submitted review (user None = the App's bot). `state` in the REST spelling
        (APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING) or the webhook one
        (approved, changes_requested, commented, dismissed, pending)."""
        full = self._canonical(full_name)
        pull = self.pulls[full][pull_number]
        state = state.upper()
        if state not in REVIEW_STATES:
            raise ValueError(f"unknown review state {state!r}")
        if review_id is None:
            review_id = self._next_id("review", 80_000_000)
        else:
            self._seen_id("review", review_id)
        html = f"{pull['html_url']}#pullrequestreview-{review_id}"
        review = {
            "id": review_id,
            "node_id": _node_id("PullRequestReview", review_id),
            "user": self.bot_user() if user is None else self.user(user),
            "body": body if body is not None else "",
            "state": state,
            "html_url": html,
            "pull_request_url": pull["url"],
            "_links": {"html": {"href": html}, "pull_request": {"href": pull["url"]}},
            "commit_id": commit_id or pull["head"]["sha"],
            "submitted_at": None if state == "PENDING" else _iso(),
            "author_association": author_association,
        }
        self.reviews[review_id] = review
        self._review_pull[review_id] = (full, pull_number)
        return review

    def _create_review(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        pull = self._pull(ctx)
        body = ctx.body or {}
        event = body.get("event")
        comments = body.get("comments") or []
        text = body.get("body") or ""
        if pull["user"]["login"].lower() == self.bot_login.lower() and event in (
            "APPROVE",
            "REQUEST_CHANGES",
        ):
            verb = "approve" if event == "APPROVE" else "request changes on"
            raise GitHubError(
                422, "Unprocessable Entity", errors=[f"Review Can not {verb} your own pull request"]
            )
        if event in ("REQUEST_CHANGES", "COMMENT") and not text and not comments:
            raise GitHubError(
                422, "Unprocessable Entity", errors=[f"Review body is required for {event} events"]
            )
        commit_id = body.get("commit_id")
        known = self.pull_commits.get((ctx.full_name, pull["number"]), [pull["head"]["sha"]])
        if commit_id is not None and commit_id not in known:
            raise GitHubError(
                422,
                "Unprocessable Entity",
                errors=["The commitOID is not part of the pull request"],
            )
        files = {f["filename"]: f for f in self.pull_files[ctx.full_name][pull["number"]]}
        for c in comments:
            f = files.get(c["path"])
            if f is None:
                raise GitHubError(
                    422, "Unprocessable Entity", errors=["Path could not be resolved"]
                )
            patch = f.get("patch")
            if patch is None:
                raise GitHubError(
                    422, "Unprocessable Entity", errors=["Line could not be resolved"]
                )
            if "line" in c:
                left, right = diff_lines(patch)
                side = c.get("side", "RIGHT")
                ok_lines = right if side == "RIGHT" else left
                start_lines = right if c.get("start_side", side) == "RIGHT" else left
                if (
                    side not in ("LEFT", "RIGHT")
                    or c["line"] not in ok_lines
                    or (
                        "start_line" in c
                        and (c["start_line"] not in start_lines or c["start_line"] > c["line"])
                    )
                ):
                    raise GitHubError(
                        422, "Unprocessable Entity", errors=["Line could not be resolved"]
                    )
            elif "position" in c:
                if not 1 <= c["position"] < len(patch.splitlines()):
                    raise GitHubError(
                        422, "Unprocessable Entity", errors=["Position could not be resolved"]
                    )
            else:
                raise GitHubError(
                    422, "Unprocessable Entity", errors=["Line could not be resolved"]
                )
        state = {
            "APPROVE": "APPROVED",
            "REQUEST_CHANGES": "CHANGES_REQUESTED",
            "COMMENT": "COMMENTED",
        }.get(event or "", "PENDING")
        review = self.add_review(
            ctx.full_name, pull["number"], text, user=None, state=state, commit_id=commit_id
        )
        for c in comments:
            extra = {k: c[k] for k in ("start_line", "start_side", "position") if k in c}
            self.add_review_comment(
                ctx.full_name,
                pull["number"],
                c["body"],
                path=c["path"],
                line=c.get("line"),
                side=c.get("side", "RIGHT"),
                review_id=review["id"],
                commit_id=review["commit_id"],
                extra=extra,
            )
        return 200, copy.deepcopy(review)

    def _list_review_comments(self, ctx: Ctx) -> Reply:
        """GET .../pulls/{pull_number}/reviews/{review_id}/comments: 404 for a
        review of another pull, like GitHub."""
        assert ctx.full_name is not None
        pull = self._pull(ctx)
        review_id = _int_or(ctx.params["review_id"], None)
        if review_id not in self.reviews or self._review_pull[review_id] != (
            self._canonical(ctx.full_name),
            pull["number"],
        ):
            raise GitHubError(404, "Not Found")
        comments = self.review_comments_on(ctx.full_name, pull["number"], review_id=review_id)
        chunk, headers = self._paginate(ctx, comments)
        return 200, copy.deepcopy(chunk), headers

    def _list_reviews(self, ctx: Ctx) -> Reply:
        assert ctx.full_name is not None
        pull = self._pull(ctx)
        chunk, headers = self._paginate(ctx, self.reviews_on(ctx.full_name, pull["number"]))
        return 200, copy.deepcopy(chunk), headers

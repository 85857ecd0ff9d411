"""Where a comment's commands were written, read from whichever event brought
them (an issue comment, a review comment, a review): pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.commands.replies import Location
from app.github import urls

ISSUE_COMMENT = "issue_comment"
REVIEW_COMMENT = "review_comment"
REVIEW = "review"


@dataclass(frozen=True)
class Source:
    """Where the commands were written, whichever event brought them."""

    kind: str  # issue_comment | review_comment | review
    id: int
    body: str | None
    author: dict[str, Any]
    repository: str
    number: int  # the issue's or the pull request's
    is_pull: bool
    reaction_path: str | None  # None: no reactions (a review)
    pull: dict[str, Any] | None  # the pull request, when the payload carries it
    location: Location | None  # a review comment's file and line

    @classmethod
    def of_issue_comment(cls, data: dict[str, Any]) -> Source:
        """An `issue_comment` event: on an issue or on a pull request's conversation."""
        comment, issue = data["comment"], data["issue"]
        repository = data["repository"]["full_name"]
        return cls(
            kind=ISSUE_COMMENT,
            id=comment["id"],
            body=comment.get("body"),
            author=comment.get("user") or data["sender"],
            repository=repository,
            number=issue["number"],
            is_pull="pull_request" in issue,
            reaction_path=urls.issue_comment(repository, comment["id"]),
            pull=None,
            location=None,
        )

    @classmethod
    def of_review_comment(cls, data: dict[str, Any]) -> Source:
        """A `pull_request_review_comment` event: a comment on a line of the diff."""
        comment = data["comment"]
        repository = data["repository"]["full_name"]
        return cls(
            kind=REVIEW_COMMENT,
            id=comment["id"],
            body=comment.get("body"),
            author=comment.get("user") or data["sender"],
            repository=repository,
            number=data["pull_request"]["number"],
            is_pull=True,
            reaction_path=urls.review_comment(repository, comment["id"]),
            pull=data["pull_request"],
            location=Location.of_review_comment(comment),
        )

    @classmethod
    def of_review(cls, data: dict[str, Any]) -> Source:
        """A `pull_request_review` event: a review's body, which takes no reactions."""
        review = data["review"]
        return cls(
            kind=REVIEW,
            id=review["id"],
            body=review.get("body"),
            author=review.get("user") or data["sender"],
            repository=data["repository"]["full_name"],
            number=data["pull_request"]["number"],
            is_pull=True,
            reaction_path=None,
            pull=data["pull_request"],
            location=None,
        )

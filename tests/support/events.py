"""Realistic webhook payloads that agree with the fake GitHub's state.

Each builder starts from a deep copy of the first matching example of the pinned
`@octokit/webhooks-examples` (tests/data/webhooks-examples-7.6.1.json.gz), so every key
GitHub sends is there, then lays the fake's own objects over it: ids, numbers, SHAs,
users, URLs and states come from `FakeGitHub`, so what the bot reads in the payload is
what it gets back when it asks the fake. Where an event reports a change (a comment,
a review, a commit status, a pull closed or reopened), the builder makes that change in
the fake first.

    fake.add_pull("octo-org/widgets", 5, files=[...])
    payload = pull_request_event(fake, "opened", "octo-org/widgets", 5, sender="alice")
    await bot.deliver("pull_request", payload)

    sha = fake.push("octo-org/widgets", 5, files=[...])
    payload = pull_request_event(fake, "synchronize", "octo-org/widgets", 5)
    assert payload["after"] == sha

Merging rule: for keys both the example and the fake have, the fake's value wins (nested
objects are merged key by key, maps such as `permissions` replaced whole); keys only the
example has are kept with the example's repository, user and API root rewritten to the
fake's (`https://api.github.com/repos/Codertocat/Hello-World/forks` becomes
`<fake.url>/repos/octo-org/widgets/forks`); keys only the fake has are added.
`installation` is always present (every App delivery has it), and `organization` is
present exactly when the repository belongs to an organization.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from typing import Any

from tests.fakes.github import FakeGitHub, _iso, diff_lines, webhook_example

EXAMPLE_API = "https://api.github.com"
# maps (not objects of a fixed shape): the fake's value replaces the example's whole
_WHOLE = frozenset({"permissions"})

__all__ = [
    "check_run_event",
    "check_suite_event",
    "issue_comment_event",
    "issue_event",
    "pull_request_event",
    "review_comment_event",
    "review_event",
    "status_event",
    "user_object",
]


# --------------------------------------------------------------------------- users


def user_object(
    fake: FakeGitHub,
    login: str,
    *,
    repo: str | None = None,
    permission: str | None = None,
) -> dict[str, Any]:
    """The user `login` as the fake knows it (created on first use; a login ending in
    `[bot]` is a Bot, the App's own `<slug>[bot]` gets the App's bot user). With `repo`
    and `permission` (admin|maintain|write|triage|read|none) the collaborator role is
    seeded too, so `GET .../collaborators/{login}/permission` answers it."""
    if permission is not None:
        if repo is None:
            raise ValueError("permission needs repo")
        fake.set_permission(repo, login, permission)
    if login.lower() == fake.bot_login.lower():
        return fake.bot_user()
    return fake.user(login)


# --------------------------------------------------------------------------- builders


def pull_request_event(
    fake: FakeGitHub,
    action: str,
    repo: str,
    number: int,
    *,
    sender: str = "octocat",
    installation_id: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """`pull_request` delivery for the fake's pull `number`.

    The fake is brought to the state the action reports: `closed` closes an open pull
    (pass `merged=True` to merge it; a pull already merged, e.g. through the merge API,
    is reported merged), `reopened` reopens it, `ready_for_review` / `converted_to_draft`
    flip `draft`. `synchronize` reports the last `fake.push()`: `before` is the previous
    head SHA, `after` the current one (pass `before=`/`after=` to override). Any other
    keyword becomes a top-level key of the payload (e.g. `label={...}`, `changes={...}`).
    """
    full = fake.canonical(repo)
    pull = fake.pulls[full][number]
    if action == "closed" and pull["state"] == "open":
        fake.close_pull(full, number, merged=bool(extra.pop("merged", False)), merged_by=sender)
    elif action == "reopened" and pull["state"] != "open":
        fake.reopen_pull(full, number)
    elif action == "ready_for_review":
        fake.set_draft(full, number, False)
    elif action == "converted_to_draft":
        fake.set_draft(full, number, True)
    extra.pop("merged", None)

    payload = _example("pull_request", action)
    if action == "synchronize":
        history = fake.pull_commits.get((full, number), [pull["head"]["sha"]])
        after = extra.pop("after", None) or pull["head"]["sha"]
        before = extra.pop("before", None)
        if before is None:
            if len(history) < 2:
                raise ValueError(
                    f"{full}#{number} has had no push: call fake.push() first, or pass before="
                )
            before = history[-2]
        payload["before"], payload["after"] = before, after
    subs = _subs(fake, payload, full)
    payload["number"] = number
    payload["pull_request"] = _overlay(
        payload["pull_request"], _pull_view(fake, full, number), subs
    )
    return _finish(fake, payload, full, sender, installation_id, subs, extra)


def check_run_event(
    fake: FakeGitHub,
    action: str,
    repo: str,
    check_run_id: int,
    *,
    sender: str | None = None,
    requested_action_identifier: str | None = None,
    installation_id: int | None = None,
) -> dict[str, Any]:
    """`check_run` delivery (created, completed, rerequested, requested_action) for the
    fake's run `check_run_id`: `check_run` is the run as the fake stores it, with its
    `check_suite` (id, head_sha, head_branch, status, conclusion, app ...) and
    `pull_requests` (the open pulls whose head is the run's head_sha).

    GitHub sends `rerequested` and `requested_action` only to the App that created the
    run, so those need a run of this App; `requested_action` needs the identifier of one
    of the run's `actions`. `sender` defaults to the run's App bot for created/completed
    and to "octocat" (the person who clicked) otherwise."""
    full = fake.canonical(repo)
    if fake.check_runs.get(check_run_id) is None or fake._check_run_repo[check_run_id] != full:
        raise KeyError(f"no check run {check_run_id} in {full}")
    run = fake.check_run_view(check_run_id)
    if action in ("rerequested", "requested_action") and run["app"]["slug"] != fake.app_slug:
        raise ValueError(
            f"GitHub sends check_run.{action} only to the App that created the run "
            f"({run['app']['slug']}), not to {fake.app_slug}"
        )
    if action == "requested_action":
        if not requested_action_identifier:
            raise ValueError("requested_action needs requested_action_identifier")
        offered = [a["identifier"] for a in fake.check_run_actions.get(check_run_id, [])]
        if requested_action_identifier not in offered:
            raise ValueError(
                f"run {check_run_id} offers no action {requested_action_identifier!r} "
                f"(its actions: {offered})"
            )
    elif requested_action_identifier is not None:
        raise ValueError("requested_action_identifier is only for action requested_action")

    suite = fake.check_suite_view(run["check_suite"]["id"])
    suite.pop("repository", None)  # a check_run payload's suite has none
    run["check_suite"] = suite

    payload = _example("check_run", action)
    subs = _subs(fake, payload, full)
    example_run = payload["check_run"]
    example_run.pop("deployment", None)  # only for runs of GitHub Actions deployments
    payload["check_run"] = _overlay(example_run, run, subs)
    if action == "requested_action":
        payload["requested_action"] = {"identifier": requested_action_identifier}
    else:
        payload.pop("requested_action", None)
    if sender is None:
        sender = f"{run['app']['slug']}[bot]" if action in ("created", "completed") else "octocat"
    return _finish(fake, payload, full, sender, installation_id, subs, {})


def check_suite_event(
    fake: FakeGitHub,
    action: str,
    repo: str,
    head_sha: str,
    *,
    sender: str | None = None,
    app_slug: str | None = None,
    conclusion: str | None = None,
    status: str | None = None,
    installation_id: int | None = None,
) -> dict[str, Any]:
    """`check_suite` delivery (completed, requested, rerequested) for the suite of App
    `app_slug` (None = this App) on `head_sha`, with `pull_requests` (open pulls whose
    head is head_sha), `head_branch`, `head_commit` and `app`.

    `requested`/`rerequested` go only to the App whose suite it is (this App); they
    report status "queued" and no conclusion. `completed` reports the suite's conclusion
    worked out from its latest runs (the worst wins), or `conclusion` when given.
    `status`/`conclusion` override what the payload reports (the fake's runs decide what
    the REST API answers)."""
    full = fake.canonical(repo)
    if action in ("requested", "rerequested") and app_slug not in (None, fake.app_slug):
        raise ValueError(f"GitHub sends check_suite.{action} only to the App of the suite")
    suite = fake.check_suite_view(fake.check_suite_for(full, head_sha, app_slug=app_slug)["id"])
    suite.pop("repository", None)
    if action in ("requested", "rerequested"):
        suite["status"], suite["conclusion"] = "queued", None
    elif action == "completed":
        suite["status"] = "completed"
        if conclusion is None and suite["conclusion"] is None:
            raise ValueError(
                f"the suite on {head_sha} has no completed runs: add them, or pass conclusion="
            )
    if status is not None:
        suite["status"] = status
    if conclusion is not None:
        suite["conclusion"] = conclusion

    payload = _example("check_suite", action)
    subs = _subs(fake, payload, full)
    payload["check_suite"] = _overlay(payload["check_suite"], suite, subs)
    if sender is None:
        sender = f"{suite['app']['slug']}[bot]" if action == "completed" else "octocat"
    return _finish(fake, payload, full, sender, installation_id, subs, {})


def status_event(
    fake: FakeGitHub,
    repo: str,
    sha: str,
    *,
    context: str,
    state: str,
    description: str | None = None,
    target_url: str | None = None,
    sender: str = "ci-bot",
    installation_id: int | None = None,
) -> dict[str, Any]:
    """`status` delivery: records the commit status in the fake (`add_status`, creator
    `sender`) so `GET .../commits/{sha}/status` agrees, and reports it with `commit` and
    the `branches` whose head is `sha`."""
    full = fake.canonical(repo)
    status = fake.add_status(
        full,
        sha,
        context=context,
        state=state,
        description=description,
        target_url=target_url,
        creator=sender,
    )
    payload = _example("status", None)
    subs = _subs(fake, payload, full)
    api = f"{fake.url}/repos/{full}"
    payload.update(
        id=status["id"],
        sha=sha,
        name=full,
        target_url=target_url,
        context=context,
        description=description,
        state=state,
        created_at=_status_time(status["created_at"]),
        updated_at=_status_time(status["updated_at"]),
    )
    if "avatar_url" in payload:
        payload["avatar_url"] = status["avatar_url"]
    payload["commit"] = _overlay(payload["commit"], _commit(fake, full, sha), subs)
    payload["branches"] = [
        {
            "name": name,
            "commit": {"sha": sha, "url": f"{api}/commits/{sha}"},
            "protected": False,
        }
        for name in fake.branches_at(full, sha)
    ]
    return _finish(fake, payload, full, sender, installation_id, subs, {})


def issue_comment_event(
    fake: FakeGitHub,
    action: str,
    repo: str,
    number: int,
    body: str,
    *,
    user: str,
    comment_id: int | None = None,
    author_association: str = "COLLABORATOR",
    previous_body: str | None = None,
    sender: str | None = None,
    installation_id: int | None = None,
) -> dict[str, Any]:
    """`issue_comment` delivery (created, edited, deleted) on issue or pull `number`
    (on a pull, `issue.pull_request` is present, as GitHub sends it).

    created: the comment is added to the fake (id `comment_id` if given), so GET, PATCH
    and reactions on it work. edited: comment `comment_id` gets `body` (it is created
    with `previous_body` first if the fake lacks it); `changes.body.from` is the old
    body. deleted: the comment leaves the fake (created first if missing); the payload
    carries it as it was. `sender` defaults to `user`."""
    full = fake.canonical(repo)
    if number not in fake.issues[full]:
        raise KeyError(f"no issue or pull #{number} in {full}")
    as_user = None if user.lower() == fake.bot_login.lower() else user
    old_body = None
    if action == "created":
        if comment_id is not None and comment_id in fake.comments:
            raise ValueError(f"comment {comment_id} is already in the fake")
        comment = fake.add_comment(
            full,
            number,
            body,
            user=as_user,
            comment_id=comment_id,
            author_association=author_association,
        )
    elif action in ("edited", "deleted"):
        comment = fake.comments.get(comment_id) if comment_id is not None else None
        if comment is None:
            first = previous_body if action == "edited" else body
            if first is None:
                raise ValueError(
                    f"edited: comment {comment_id} is not in the fake; give previous_body"
                )
            comment = fake.add_comment(
                full,
                number,
                first,
                user=as_user,
                comment_id=comment_id,
                author_association=author_association,
            )
        elif fake._comment_issue[comment["id"]] != (full, number):
            raise ValueError(f"comment {comment_id} is not on {full}#{number}")
        if action == "edited":
            old_body = comment["body"] if previous_body is None else previous_body
            comment["body"] = body
            comment["updated_at"] = _iso()
        else:
            fake.delete_comment(comment["id"])
    else:
        raise ValueError(f"unknown issue_comment action {action!r}")

    payload = _example("issue_comment", action)
    subs = _subs(fake, payload, full)
    issue = copy.deepcopy(fake.issues[full][number])
    example_issue = payload["issue"]
    if "pull_request" not in issue:
        example_issue.pop("pull_request", None)
        example_issue.pop("draft", None)
    payload["issue"] = _overlay(example_issue, issue, subs)
    payload["comment"] = _overlay(payload["comment"], copy.deepcopy(comment), subs)
    if action == "edited":
        payload["changes"] = {"body": {"from": old_body}}
    else:
        payload.pop("changes", None)
    return _finish(fake, payload, full, sender or user, installation_id, subs, {})


def review_comment_event(
    fake: FakeGitHub,
    action: str,
    repo: str,
    number: int,
    body: str,
    *,
    user: str,
    path: str,
    line: int,
    side: str = "RIGHT",
    comment_id: int | None = None,
    review_id: int | None = None,
    previous_body: str | None = None,
    author_association: str = "COLLABORATOR",
    installation_id: int | None = None,
) -> dict[str, Any]:
    """`pull_request_review_comment` delivery (created, edited) on pull `number`.

    created: the line must be in the diff of `path` (GitHub refuses others); a review
    holding the comment is added unless `review_id` names one, then the comment (with
    `diff_hunk`, `position`, `commit_id` = the pull's head). edited: comment
    `comment_id` gets `body` (created with `previous_body` first when missing);
    `changes.body.from` is the old body."""
    full = fake.canonical(repo)
    pull = fake.pulls[full][number]
    as_user = None if user.lower() == fake.bot_login.lower() else user
    comment = fake.review_comments.get(comment_id) if comment_id is not None else None
    old_body = None
    if action not in ("created", "edited", "deleted"):
        raise ValueError(f"unknown pull_request_review_comment action {action!r}")
    if comment is not None and action == "created":
        raise ValueError(f"review comment {comment_id} is already in the fake")
    if comment is None:
        if action == "edited" and previous_body is None:
            raise ValueError(f"edited: comment {comment_id} is not in the fake; give previous_body")
        files = {f["filename"]: f for f in fake.pull_files[full][number]}
        patch = (files.get(path) or {}).get("patch")
        if patch is None:
            raise ValueError(f"{path} is not in the diff of {full}#{number}")
        left, right = diff_lines(patch)
        if line not in (right if side == "RIGHT" else left):
            raise ValueError(f"line {line} ({side}) of {path} is not in the diff")
        if review_id is None:
            review_id = fake.add_review(
                full, number, "", user=as_user, author_association=author_association
            )["id"]
        comment = fake.add_review_comment(
            full,
            number,
            previous_body if action == "edited" else body,
            path=path,
            line=line,
            side=side,
            user=as_user,
            comment_id=comment_id,
            review_id=review_id,
            commit_id=pull["head"]["sha"],
            author_association=author_association,
        )
    if action == "edited":
        old_body = comment["body"] if previous_body is None else previous_body
        comment["body"] = body
        comment["updated_at"] = _iso()
    elif action == "deleted":
        fake.review_comments.pop(comment["id"])
        fake._review_comment_pull.pop(comment["id"])

    payload = _example("pull_request_review_comment", action)
    subs = _subs(fake, payload, full)
    payload["comment"] = _overlay(payload["comment"], copy.deepcopy(comment), subs)
    payload["pull_request"] = _overlay(
        payload["pull_request"], _pull_view(fake, full, number), subs
    )
    if action == "edited":
        payload["changes"] = {"body": {"from": old_body}}
    return _finish(fake, payload, full, user, installation_id, subs, {})


def review_event(
    fake: FakeGitHub,
    action: str,
    repo: str,
    number: int,
    body: str | None,
    *,
    user: str,
    state: str = "commented",
    review_id: int | None = None,
    commit_id: str | None = None,
    sender: str | None = None,
    installation_id: int | None = None,
) -> dict[str, Any]:
    """`pull_request_review` delivery (submitted, edited, dismissed) on pull `number`.

    submitted: a review by `user` in `state` (approved, changes_requested, commented) is
    added to the fake (GET .../pulls/{n}/reviews lists it, state in capitals there).
    edited: review `review_id` gets `body`; `changes.body.from` is the old one.
    dismissed: review `review_id` becomes DISMISSED; `sender` (default `user`) is who
    dismissed it. edited/dismissed add the review first when `review_id` is unknown."""
    full = fake.canonical(repo)
    if number not in fake.pulls[full]:
        raise KeyError(f"no pull #{number} in {full}")
    as_user = None if user.lower() == fake.bot_login.lower() else user
    review = fake.reviews.get(review_id) if review_id is not None else None
    old_body = None
    if action not in ("submitted", "edited", "dismissed"):
        raise ValueError(f"unknown pull_request_review action {action!r}")
    if review is None:
        review = fake.add_review(
            full,
            number,
            body,
            user=as_user,
            state=state.upper(),
            commit_id=commit_id,
            review_id=review_id,
        )
    elif action == "submitted":
        raise ValueError(f"review {review_id} is already in the fake")
    if action == "edited":
        old_body = review["body"]
        review["body"] = body if body is not None else ""
    elif action == "dismissed":
        review["state"] = "DISMISSED"

    payload = _example("pull_request_review", action)
    subs = _subs(fake, payload, full)
    view = copy.deepcopy(review)
    view["state"] = view["state"].lower()  # webhook spelling: approved, commented, ...
    view["body"] = view["body"] or None  # an empty review body is null in the webhook
    payload["review"] = _overlay(payload["review"], view, subs)
    payload["pull_request"] = _overlay(
        payload["pull_request"], _pull_view(fake, full, number), subs
    )
    if action == "edited":
        payload["changes"] = {"body": {"from": old_body}}
    return _finish(fake, payload, full, sender or user, installation_id, subs, {})


def issue_event(
    fake: FakeGitHub,
    action: str,
    repo: str,
    number: int,
    *,
    sender: str = "octocat",
    label: str | None = None,
    installation_id: int | None = None,
) -> dict[str, Any]:
    """`issues` delivery (opened, labeled, ...) for the fake's issue `number`.

    labeled: `label` is added to the issue in the fake first (created in the
    repository if missing), and the payload carries it as `label`, as GitHub
    sends it after the label is on the issue."""
    full = fake.canonical(repo)
    if number not in fake.issues[full]:
        raise KeyError(f"no issue #{number} in {full}")
    issue = fake.issues[full][number]
    if "pull_request" in issue:
        raise ValueError(f"#{number} in {full} is a pull request; GitHub sends pull_request")
    the_label = None
    if action in ("labeled", "unlabeled"):
        if label is None:
            raise ValueError(f"issues.{action} needs label=")
        the_label = fake._ensure_label(full, label)
        names = [item["name"].lower() for item in issue["labels"]]
        if action == "labeled" and label.lower() not in names:
            issue["labels"].append(the_label)
        elif action == "unlabeled":
            issue["labels"] = [
                item for item in issue["labels"] if item["name"].lower() != label.lower()
            ]
    elif label is not None:
        raise ValueError("label is only for issues.labeled and issues.unlabeled")

    payload = _example("issues", action)
    subs = _subs(fake, payload, full)
    payload["issue"] = _overlay(payload["issue"], copy.deepcopy(issue), subs)
    if the_label is not None:
        payload["label"] = copy.deepcopy(the_label)
    else:
        payload.pop("label", None)
    payload.pop("changes", None)
    return _finish(fake, payload, full, sender, installation_id, subs, {})


# --------------------------------------------------------------------------- helpers


def _example(event: str, action: str | None) -> dict[str, Any]:
    """The first example of event/action; for an action without one (e.g.
    pull_request_review.edited), the event's first example with `action` replaced."""
    try:
        payload = webhook_example(event, action)
    except KeyError:
        payload = webhook_example(event)
    if action is not None:
        payload["action"] = action
    return payload


def _subs(fake: FakeGitHub, payload: dict[str, Any], full: str) -> list[tuple[str, str]]:
    """String rewrites for the example-only parts: its repository and owner, API root."""
    subs: list[tuple[str, str]] = []
    ex_repo = payload.get("repository") or {}
    repo = fake.repos[full]
    if ex_repo.get("full_name"):
        subs.append((ex_repo["full_name"], full))
        ex_owner = (ex_repo.get("owner") or {}).get("login")
        if ex_owner:
            subs.append((f"/{ex_owner}/", f"/{repo['owner']['login']}/"))
            subs.append((f"/{ex_owner}", f"/{repo['owner']['login']}"))
    subs.append((EXAMPLE_API, fake.url))
    return subs


def _rebase(value: Any, subs: list[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        for old, new in subs:
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {k: _rebase(v, subs) for k, v in value.items()}
    if isinstance(value, list):
        return [_rebase(v, subs) for v in value]
    return value


def _overlay(example: Any, ours: Any, subs: list[tuple[str, str]]) -> Any:
    """`ours` laid over `example` (see the module docstring)."""
    if not (isinstance(example, dict) and isinstance(ours, dict)):
        return copy.deepcopy(ours)
    local = subs
    ex_login, our_login = example.get("login"), ours.get("login")
    if isinstance(ex_login, str) and isinstance(our_login, str) and ex_login != our_login:
        local = [(f"/{ex_login}/", f"/{our_login}/"), (f"/{ex_login}", f"/{our_login}"), *subs]
    ex_full, our_full = example.get("full_name"), ours.get("full_name")
    if isinstance(ex_full, str) and isinstance(our_full, str) and ex_full != our_full:
        local = [(ex_full, our_full), *local]
    out: dict[str, Any] = {}
    for key, value in example.items():
        if key not in ours:
            out[key] = _rebase(value, local)
        elif key in _WHOLE:
            out[key] = copy.deepcopy(ours[key])
        else:
            out[key] = _overlay(value, ours[key], local)
    for key, value in ours.items():
        if key not in out:
            out[key] = copy.deepcopy(value)
    return out


def _pull_view(fake: FakeGitHub, full: str, number: int) -> dict[str, Any]:
    pull = copy.deepcopy(fake.pulls[full][number])
    pull["labels"] = copy.deepcopy(fake.issues[full][number]["labels"])
    return pull


def _organization(fake: FakeGitHub, full: str) -> dict[str, Any] | None:
    owner = fake.repos[full]["owner"]
    if owner["type"] != "Organization":
        return None
    login, org_id = owner["login"], owner["id"]
    api = f"{fake.url}/orgs/{login}"
    return {
        "login": login,
        "id": org_id,
        "node_id": _node_id("Organization", org_id),
        "url": api,
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events",
        "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues",
        "members_url": f"{api}/members{{/member}}",
        "public_members_url": f"{api}/public_members{{/member}}",
        "avatar_url": owner["avatar_url"],
        "description": None,
    }


def _commit(fake: FakeGitHub, full: str, sha: str) -> dict[str, Any]:
    """A commit object (as in a `status` payload) for `sha`: authored by the user of the
    pull it heads, else by the repository's owner."""
    api = f"{fake.url}/repos/{full}"
    author = fake.repos[full]["owner"]
    for number, history in fake.pull_commits.items():
        if number[0] == full and sha in history:
            author = fake.pulls[full][number[1]]["user"]
            break
    when = _iso()
    tree = _sha1(f"tree:{sha}")
    person = {
        "name": author["login"],
        "email": f"{author['id']}+{author['login']}@users.noreply.github.com",
        "date": when,
    }
    return {
        "sha": sha,
        "node_id": _node_id("Commit", fake.repos[full]["id"], sha),
        "commit": {
            "author": person,
            "committer": dict(person),
            "message": "A commit",
            "tree": {"sha": tree, "url": f"{api}/git/trees/{tree}"},
            "url": f"{api}/git/commits/{sha}",
            "comment_count": 0,
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
            },
        },
        "url": f"{api}/commits/{sha}",
        "html_url": f"https://github.com/{full}/commit/{sha}",
        "comments_url": f"{api}/commits/{sha}/comments",
        "author": copy.deepcopy(author),
        "committer": copy.deepcopy(author),
        "parents": [],
    }


def _finish(
    fake: FakeGitHub,
    payload: dict[str, Any],
    full: str,
    sender: str,
    installation_id: int | None,
    subs: list[tuple[str, str]],
    extra: dict[str, Any],
) -> dict[str, Any]:
    """repository, organization, sender, installation, then `extra` top-level keys."""
    payload["repository"] = _overlay(payload["repository"], copy.deepcopy(fake.repos[full]), subs)
    org = _organization(fake, full)
    if org is None:
        payload.pop("organization", None)
    else:
        payload["organization"] = _overlay(payload.get("organization") or {}, org, subs)
    payload["sender"] = _overlay(payload["sender"], user_object(fake, sender), subs)
    inst = installation_id if installation_id is not None else fake.installation_of(full)
    payload["installation"] = {"id": inst, "node_id": _node_id("IntegrationInstallation", inst)}
    payload.update(copy.deepcopy(extra))
    return payload


def _node_id(kind: str, ident: int, suffix: str = "") -> str:
    text = f"{len(kind):02d}:{kind}{ident}" + (f":{suffix}" if suffix else "")
    return base64.b64encode(text.encode()).decode()


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def _status_time(iso_z: str) -> str:
    """Status payloads spell times with an offset: 2019-05-15T15:20:55+00:00."""
    return iso_z.replace("Z", "+00:00")

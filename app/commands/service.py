"""Handling a comment's `/codegen` commands: each line acted on once, who asks
checked before anything is written, and the comment marked with how it went.

Each command line is logged under a key made of the comment and the line
(app/commands/log_store.py), and a comment's lines are handled under a lock
named by the comment, so a redelivery (same or new GUID) or two workers never
act on a line twice. A line a crashed try left unfinished is done on the next
try; the actions are keyed themselves (follow-ups by the same key, replies by a
marker).

A comment none of whose commands its author may give gets no reaction and at
most one reply per person per conversation an hour
(app/commands/denials_store.py). Otherwise: 👀 on the comment, then 🚀 when
every line worked or 😕 with a reply saying why. A review has no reactions, so
there the reply is the feedback. Only the first `MAX_PER_COMMENT` commands of a
comment are acted on; a reply says how many more were ignored. The decisions
are in app/commands/decide.py, the verbs in app/commands/verbs.py. A comment
without a command that opens a line by mentioning the App is one command, by
the same rules (app/commands/parse.py `parse_mention`)."""

from __future__ import annotations

import logging
from typing import Any

from gidgethub import BadRequest

from app.commands import decide, verbs
from app.commands import denials_store as command_denials
from app.commands import log_store as command_log
from app.commands import replies as command_replies
from app.commands.decide import Result, Step
from app.commands.parse import MAX_PER_COMMENT, Command, parse_commands, parse_mention
from app.commands.source import Source
from app.db import advisory_lock
from app.github import comments
from app.github.client import GitHubClient
from app.github.permissions import permission_of
from app.repo_settings.config import RepoConfig, load_repo_config
from app.runtime import HandlerContext

log = logging.getLogger(__name__)
# GitHub's answers when a reply cannot be posted at all (locked, deleted, refused).
_CANNOT_REPLY = (403, 404, 410, 422)


async def handle(
    ctx: HandlerContext, gh: GitHubClient, data: dict[str, Any], source: Source
) -> None:
    """Act on the commands of one comment, review comment or review."""
    found = parse_commands(source.body)
    if not found and source.body and "@" in source.body:
        # `@<app-slug> ...` is `/codegen fix` on a PR, `/codegen run` on an issue.
        found = parse_mention(source.body, await ctx.runtime.github.slug(), source.is_pull)
    if not found:
        return
    commands = found[:MAX_PER_COMMENT]
    actor = source.author["login"]
    pool = ctx.runtime.pool
    async with advisory_lock(pool, f"command:{source.kind}:{source.id}"):
        keys, pending = await _claim(ctx, source, commands, actor)
        if not pending:
            log.info("%s %s: its commands were handled already", source.kind, source.id)
            return
        # Who is asking comes before any write: a refused comment costs one reply
        # an hour at most, never a reaction.
        config, problems, sha = await load_repo_config(gh, source.repository, ctx.runtime.settings)
        level = await permission_of(gh, source.repository, actor)
        if not decide.anything_permitted(level, (c.verb for c, _, _ in pending), config):
            await _deny(ctx, gh, source, actor, [(c, key) for c, key, _ in pending], config)
            return
        await _react(gh, source, "eyes")
        if len(found) > MAX_PER_COMMENT:
            text = command_replies.ignored(actor, len(found), MAX_PER_COMMENT)
            await _post(ctx, gh, source, f"cmd:{source.kind}:{source.id}:ignored", text)
        for command, key, started in pending:
            step = decide.step(level, command.verb, started, config)
            if step is Step.REFUSE:
                minimum = decide.minimum(command.verb, config)
                text = command_replies.verb_denied(
                    command.verb, minimum, source.repository, config.trigger_label
                )
                result = Result(False, text)
            elif step is Step.DONE_BEFORE:
                result = decide.DONE_BEFORE
            else:
                call = verbs.Call(ctx, gh, data, source, command, key, actor, config, problems, sha)
                result = await verbs.run(call)
            if decide.needs_reply(result, source.reaction_path is not None):
                text = f"@{actor} {result.message}" if result.mention else result.message
                await _post(ctx, gh, source, key, command_replies.reply(command, text))
            await command_log.finish(pool, key, "done" if result.ok else "failed", result.message)
        ended = [await command_log.get(pool, key) for key in keys]
        worked = all(entry is not None and entry.status == "done" for entry in ended)
        await _react(gh, source, decide.reaction(worked, len(found), len(commands)))


async def _claim(
    ctx: HandlerContext, source: Source, commands: list[Command], actor: str
) -> tuple[list[str], list[tuple[Command, str, bool]]]:
    """Log every line (once, whatever the delivery); the keys of all of them and
    the lines still to handle, each with whether an earlier try started it."""
    keys: list[str] = []
    pending: list[tuple[Command, str, bool]] = []
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        for command in commands:
            key = command_log.command_key(source.kind, source.id, command.line)
            entry, _ = await command_log.claim(
                conn,
                key=key,
                repository=source.repository,
                number=source.number,
                verb=command.verb,
                args=command.args,
                actor=actor,
                delivery_id=ctx.delivery_id,
            )
            keys.append(key)
            if entry.status == command_log.RECEIVED:
                pending.append((command, key, entry.reply == command_log.STARTED))
    return keys, pending


async def _deny(
    ctx: HandlerContext,
    gh: GitHubClient,
    source: Source,
    actor: str,
    refused: list[tuple[Command, str]],
    config: RepoConfig,
) -> None:
    """Refuse every command of the comment: one reply per person per conversation
    an hour (whichever process handles it), and no other write."""
    pool = ctx.runtime.pool
    denial = decide.denial((command.verb for command, _ in refused), config)
    text = command_replies.denied(actor, denial.minimum, source.repository, denial.what)
    reply_key = f"cmd:{source.kind}:{source.id}:denied"
    if await command_denials.may_reply(
        pool, repository=source.repository, number=source.number, actor=actor, source=reply_key
    ):
        await _post(ctx, gh, source, reply_key, text)
    else:
        text = "(refused; the denial was said within the hour, so not again)"
        log.info("%s %s: commands by %s refused quietly", source.kind, source.id, actor)
    for _, key in refused:
        await command_log.finish(pool, key, "denied", text)


async def _react(gh: GitHubClient, source: Source, content: str) -> None:
    if source.reaction_path is None:
        return
    try:
        await comments.react(gh, source.reaction_path, content)
    except BadRequest as exc:  # the comment was deleted meanwhile, or the issue locked
        log.info("could not react %s on %s: %s", content, source.reaction_path, exc)


async def _post(ctx: HandlerContext, gh: GitHubClient, source: Source, key: str, text: str) -> None:
    login = await ctx.bot_login()
    try:
        async with comments.issue_lock(ctx.runtime.pool, source.repository, source.number):
            await comments.post_once(gh, source.repository, source.number, key, text, login)
    except BadRequest as exc:
        if exc.status_code not in _CANNOT_REPLY:
            raise
        # A locked or deleted conversation: the commands table keeps the reply's text.
        log.warning("could not reply on %s#%s: %s", source.repository, source.number, exc)

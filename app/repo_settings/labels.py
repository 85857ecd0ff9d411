"""Creating the trigger label in a repository, idempotently."""

from __future__ import annotations

import logging

from gidgethub import InvalidField, ValidationError

from app.github import installations_store as installations
from app.github import urls
from app.queue.registry import JobRegistry
from app.queue.store import Job
from app.runtime import Runtime

log = logging.getLogger(__name__)
registry = JobRegistry()  # this module's job kinds, joined in app.service

ENSURE_LABEL_JOB = "label.ensure"
LABEL_COLOR = "5319e7"
LABEL_DESCRIPTION = "Ask codegen-bot to implement this issue as a pull request"


@registry.job(ENSURE_LABEL_JOB)
async def ensure_label(runtime: Runtime, job: Job) -> None:
    """Job: create the label; GitHub's "already exists" answer counts as success."""
    payload = job.payload
    gh = await runtime.github.for_installation(payload["installation_id"])
    try:
        await gh.post(
            urls.labels(payload["repository"]),
            data={"name": payload["label"], "color": LABEL_COLOR, "description": LABEL_DESCRIPTION},
        )
        log.info("created label %r in %s", payload["label"], payload["repository"])
    except (InvalidField, ValidationError) as exc:
        codes = {e.get("code") for e in (exc.errors or []) if isinstance(e, dict)}
        if "already_exists" not in codes:
            raise
        log.info("label %r already exists in %s", payload["label"], payload["repository"])
    await installations.mark_label_created(runtime.pool, payload["repository_id"])

"""Names the validation modules share: the job kinds they enqueue (each is run
by the module that registers it) and the lock a pull request's writers take."""

from __future__ import annotations

RUN_JOB = "validation.run"  # app/validation/run.py
CI_FIX_JOB = "validation.ci_fix"  # app/validation/ci_fix.py
MERGE_JOB = "pull_request.merge"  # app/validation/merge.py
AUTO_MERGE_WATCH_JOB = "pull_request.auto_merge_watch"  # app/validation/merge.py


def lock_key(repository: str, number: int) -> str:
    """The PR's lock: held to record a new head (superseding older validations)
    and to post a validation's results, so an old result never follows a new push."""
    return f"pr:{repository.lower()}#{number}"

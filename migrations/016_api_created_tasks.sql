-- A task made through the REST API waits in `created` until `create-pr`,
-- `/codegen run` or the trigger label starts its first attempt. It holds its
-- issue as any active task does, so the one-active-task index counts it.

ALTER TABLE tasks DROP CONSTRAINT tasks_status_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_status_check
    CHECK (status IN ('created', 'queued', 'generating_prompt', 'running', 'pr_open',
                      'validating', 'passed', 'changes_requested', 'merged', 'closed',
                      'failed', 'cancelled', 'needs_info', 'timed_out'));

DROP INDEX tasks_one_active_per_issue;
CREATE UNIQUE INDEX tasks_one_active_per_issue ON tasks (lower(repository), issue_number)
    WHERE status IN ('created', 'queued', 'generating_prompt', 'running', 'needs_info');

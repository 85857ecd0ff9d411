"""Tasks: an issue turned into a spec, a prompt and agent runs. Owns the `tasks`,
`codegen_requests` and `workflow_executions` tables, the task state machine
(`status`), starting a task, the `task.*` jobs and the tracking comment."""

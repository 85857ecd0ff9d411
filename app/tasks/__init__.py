"""Tasks: an issue turned into a spec, a prompt and agent runs. Owns the `tasks`,
`codegen_requests` and `workflow_executions` tables, their state machines
(`status` for a task, `request_status` for an attempt, `workflow_status` for
the workflow record), starting a task, the `task.*` jobs and the tracking
comment.

Reading an issue: `issue_spec` (the parser), `levels`, `spec`, `readiness`.
The workflow, one step per job: `start` (a task from an issue), `schedule`
(job kinds, keys, delays, the spend lock), `advance` (`task.advance`: check the
issue, build the prompt, create the run), `polling` (`task.poll`: follow the
run, late polls), `endings` (how an attempt ends), `stopping` (cancel,
`task.ban`), `reporting` (`task.render`, `task.notify`); their pure choices
are in `decisions`."""

"""Budgets: how many agent runs a repository and an installation may start per
UTC day and have in flight at once, and the queue a task waits in when a limit
holds it. Owns the `budget_admissions` table (`store`), the admission made in
one transaction per installation (`admission`), the `budget.*` jobs that admit
waiting tasks when a run ends or the day rolls over (`jobs`), and the pure
decisions and words (`decide`). The per-task caps on follow-ups are read with
the repository's settings (`review_fix.max`, `ci_fix.max_attempts`) and
enforced where follow-ups are made; their refusal text is here too.

A task waiting for budget keeps its status (`generating_prompt`: its prompt is
ready, its run not yet made) and has a `waiting` admission row: no new task
status, so the state machine, the one-active-task-per-issue index and every
reader of statuses stay as they are; the tracking comment and `/codegen
status` read the row to say the task waits, where and why."""

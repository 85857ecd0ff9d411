-- Where and how a task's PR is opened, as its issue chose it (issue-form
-- fields such as `Base branch` and `Draft`, the `codegen:draft` /
-- `codegen:ready` labels), read when the task's text is: at the label, or at
-- an edit by someone permitted, never from a later edit by anyone else.
-- NULL: none recorded (tasks made before, or given as fields through the API).

ALTER TABLE tasks ADD COLUMN pr_fields jsonb;

"""Follow-ups: instructions sent to a task's agent run after its first attempt
(`/codegen fix`, CI fixes, retries). Owns the `agent_followups` table, its
state machine (`status`) and the `followup.*` jobs (`flow`, whose poll loop's
choices are in `decisions`)."""

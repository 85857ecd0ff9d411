"""Follow-ups: instructions sent to a task's agent run after its first attempt
(`/codegen fix`, CI fixes, retries). Owns the `agent_followups` table and the
`followup.*` jobs."""

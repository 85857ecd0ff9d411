-- A review asking for changes on the agent's pull request is sent to the agent
-- as a follow-up of its own kind (app/followups/reviews.py), counted against
-- the task's review fixes like `/codegen fix` and "Fix with Codegen".
ALTER TABLE agent_followups DROP CONSTRAINT agent_followups_kind_check;
ALTER TABLE agent_followups ADD CONSTRAINT agent_followups_kind_check
    CHECK (kind IN ('fix', 'ci_fix', 'findings', 'review'));

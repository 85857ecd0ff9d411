-- What the person who started a task added to the issue when they started it
-- by mentioning the App (`@<app-slug> <instructions>` on the issue): a list of
-- {"by": login, "text": instructions}, carried into the prompt as that
-- person's data beside the issue.
ALTER TABLE tasks ADD COLUMN instructions jsonb NOT NULL DEFAULT '[]'::jsonb;

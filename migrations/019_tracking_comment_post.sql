-- Set (committed) just before the bot first posts a task's tracking comment. A
-- task without it has never posted one, so its first post needs no search of
-- the issue's comments for a copy left by a crash; with it and no comment id
-- stored, the post may have reached GitHub, and the marker search finds it.

ALTER TABLE tasks ADD COLUMN tracking_post_started boolean NOT NULL DEFAULT false;

-- The repository's default branch and description as the label's delivery gave
-- them: the prompt's repository context starts from them instead of reading
-- the repository again (NULL: not known, e.g. a task made through the REST API).
ALTER TABLE tasks ADD COLUMN default_branch text;
ALTER TABLE tasks ADD COLUMN repository_description text;

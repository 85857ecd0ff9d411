"""Validating a pull request's head commit: static analysis of the diff, the
repository's CI, the check run and review that report it, CI fixes and
auto-merge. Owns the `validations` table and the `validation.*` jobs (and
`pull_request.merge`, `task.link_pull_requests`).

From a new head to what follows its verdict:
heads (a head recorded, its validation asked for; CI events wake it),
run (the `validation.run` job: check run created, diff analysed),
checkrun (waiting for CI, the verdict posted, a superseded one cancelled),
review (the one review per commit), verdict (the task takes the verdict;
CI fixes or a merge are asked for), ci_fix (`validation.ci_fix`),
merge and merge_rules (`pull_request.merge` and when it may happen),
link (`task.link_pull_requests`), buttons (Re-run and the check run's
actions). Beside them: status (the state machine), store (the table),
keys (job kinds and the PR lock), analysis/ (the diff's findings), ci
(reading CI), report (the check run's texts) and config (the settings)."""

"""Pull requests the agent opened: the `pull_requests` table, which task a
pull request belongs to (recorded, reported by the run, or trusted by author),
the end of a pull request (closed), which ends its task, and where and how the
agent opens it (placement: base, draft, branch, title, reviewers, labels) with
the corrections the bot makes to the PR it gets."""

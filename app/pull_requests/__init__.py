"""Pull requests the agent opened: the `pull_requests` table, which task a
pull request belongs to (recorded, reported by the run, or trusted by author),
and the end of a pull request (closed), which ends its task."""

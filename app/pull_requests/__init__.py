"""Pull requests the agent opened: the `pull_requests` table and which task a
pull request belongs to (recorded, reported by the run, or trusted by author)."""

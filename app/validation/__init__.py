"""Validating a pull request's head commit: static analysis of the diff, the
repository's CI, the check run and review that report it, CI fixes and
auto-merge. Owns the `validations` table and the `validation.*` jobs."""

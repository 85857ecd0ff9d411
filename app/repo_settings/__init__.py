"""A repository's own settings: `.github/codegen.yml` read from the default
branch, and the trigger label the bot creates (the `label.*` jobs)."""

"""The GitHub side: App authentication and the REST client (the only place
GitHub URLs are built), who the bot is and who may steer it, comments posted
exactly once, and the `installations` / `repositories` tables."""

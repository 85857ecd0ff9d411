"""`/codegen` slash commands: the pure parser (parse), where a comment's
commands were written (source), the service that acts on each line once
(service) with its decisions as values (decide) and its verbs (verbs), the
replies' words (replies), and the `commands` and `command_denials` tables that
make each command act once (log_store, denials_store)."""

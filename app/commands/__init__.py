"""`/codegen` slash commands: the pure parser, the replies' words, and the
`commands` and `command_denials` tables that make each command act once."""

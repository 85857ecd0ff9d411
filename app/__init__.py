"""codegen-bot: a GitHub App that turns labeled issues into Codegen agent runs."""

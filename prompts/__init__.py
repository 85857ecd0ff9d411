"""Prompt templates (plain text and markdown files beside this module) and the
pure builder that fills them from a task and its repository context."""

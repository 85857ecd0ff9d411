"""Limits shared by every process on one PostgreSQL: Codegen's creates per
organization (a sliding window in a row, `creates.SharedWindow`) and GitHub's
serial, spaced writes per installation (a lease per installation held on one
connection per process, `writes.SharedWritePacing`). Their SQL is `store.py`;
the in-process pacers they stand in for stay in app/codegen/pacing.py and
app/github/client.py for tools and tests without a database."""

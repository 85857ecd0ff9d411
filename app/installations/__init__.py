"""Where the App is installed and under which names: installation events
recorded (out-of-order deliveries never undo a newer one), the trigger label
queued for each repository gained, and a renamed or transferred repository's
tasks and PR records moved to its new name. The tables are
app/github/installations_store.py's."""

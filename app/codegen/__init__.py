"""Codegen's agent API: its vocabulary (runs), the client's pacing and retry
policy (pacing), the HTTP client (client), the `Codegen` protocol both
implementations provide, and the simulated stand-in (with its `simulated_runs`
table) used when no API key is set."""

"""Codegen's agent API: the HTTP client, and the simulated stand-in (with its
`simulated_runs` table) used when no API key is set."""

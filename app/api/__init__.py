"""The REST API (`/api/v1/...`): API keys, rate limits and idempotency shared
through PostgreSQL, request and response definitions that also make its
OpenAPI 3.1 document, and endpoints that call the same services as the
webhook handlers (a task starts, retries and stops here as it does from a
label or a `/codegen` command)."""

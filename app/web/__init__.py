"""The HTTP face of the bot: the aiohttp application, the webhook intake that
verifies, stores and acknowledges deliveries, health, metrics and the status page.
It does no GitHub or Codegen I/O: everything slow happens in queued jobs."""

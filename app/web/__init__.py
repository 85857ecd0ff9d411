"""The HTTP face of the bot: the web port's front (GitHub's plain webhook POSTs
without aiohttp's per-request cost), the aiohttp application behind it, the
webhook intake that verifies, stores and acknowledges deliveries, health,
metrics and the status page. It does no GitHub or Codegen I/O: everything slow
happens in queued jobs."""

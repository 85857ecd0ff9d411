"""Seeing into the bot: structured logs with delivery and job ids, Prometheus
metrics defined once, and the KPIs computed from stored state."""

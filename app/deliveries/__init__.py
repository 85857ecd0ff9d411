"""Webhook deliveries: the `webhook_deliveries` table, exactly as received, and
the `delivery` job that dispatches a stored delivery to the handlers' routers."""

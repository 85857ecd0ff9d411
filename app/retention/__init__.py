"""Retention: deleting what is no longer needed, in small batches."""

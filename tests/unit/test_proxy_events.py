"""Hostile input to the webhook proxy's pure parts: what a smee.io channel (anyone
who knows its URL can post to it) or a long outage can feed them."""

from __future__ import annotations

from app.onboarding.proxy import backoff


def test_backoff_stays_capped_after_a_night_of_failures():
    # ~1,000 attempts at the 60 s cap is 17 hours offline: 2**1024 is no float.
    for attempt in (1024, 1025, 5000, 10**6):
        assert 60.0 <= backoff(attempt, 1.0, 60.0) <= 66.0

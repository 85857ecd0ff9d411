"""Hostile input to the webhook proxy's pure parts: what a smee.io channel (anyone
who knows its URL can post to it) or a long outage can feed them."""

from __future__ import annotations

import pytest

from app.onboarding.proxy import ProxyError, WebhookProxy, backoff, delivery_from_event


def test_backoff_stays_capped_after_a_night_of_failures():
    # ~1,000 attempts at the 60 s cap is 17 hours offline: 2**1024 is no float.
    for attempt in (1024, 1025, 5000, 10**6):
        assert 60.0 <= backoff(attempt, 1.0, 60.0) <= 66.0


@pytest.mark.parametrize(
    "data",
    [
        '{"body":' + "[" * 5000 + "]" * 5000 + "}",
        '{"body":{},"x-deep":' + "{" + '"a":{' * 5000 + "}" * 5001 + "}",
    ],
)
def test_a_deeply_nested_event_is_refused_not_raised(data):
    with pytest.raises(ProxyError):
        delivery_from_event(data)


def test_the_status_line_names_the_channel_host_only():
    """`/` shows it to anyone: no channel path, no credentials in the URL."""
    proxy = WebhookProxy("https://bot:hunter2@proxy.example:8443/Abc123channel")
    line = proxy.describe()
    assert "proxy.example:8443" in line
    assert "hunter2" not in line and "bot:" not in line and "Abc123" not in line


def test_a_header_value_aiohttp_would_refuse_is_dropped():
    """aiohttp raises ValueError (not a ClientError) for a control character in
    a header: forwarded, it would end the proxy's task."""
    data = (
        '{"x-github-event":"issues","x-ctl":"a\\u0001b","x-del":"a\\u007fb",'
        '"x-c1":"a\\u0085b","x-tab":"a\\tb","x-ok":"caf\\u00e9","body":{}}'
    )
    headers, _ = delivery_from_event(data)
    assert headers == {
        "x-github-event": "issues",
        "x-ok": "café",
        "Content-Type": "application/json",
    }

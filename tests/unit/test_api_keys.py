"""API keys: the `API_KEYS` format, how a key is presented and checked."""

from __future__ import annotations

import pytest

from app.api.keys import KeyFormatError, Scope, authenticate, parse_keys, presented_key
from app.config import ConfigError, load_settings

KEY = "k" * 16


def test_entries_are_name_scope_key_and_only_digests_are_kept():
    keys = parse_keys([f"ci:write:{KEY}", f"dash:read:{KEY}x:with:colons"])
    assert [(k.name, k.scope) for k in keys] == [("ci", Scope.WRITE), ("dash", Scope.READ)]
    assert KEY not in repr(keys)
    assert authenticate(keys, KEY).name == "ci"
    assert authenticate(keys, f"{KEY}x:with:colons").name == "dash"
    assert authenticate(keys, KEY + "y") is None and authenticate((), KEY) is None
    assert keys[0].actor == "api-key:ci"
    assert keys[0].may(Scope.WRITE) and keys[1].may(Scope.READ) and not keys[1].may(Scope.WRITE)


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        (KEY, "not name:scope:key"),
        (f"ci:admin:{KEY}", "read or write"),
        ("ci:write:short", "at least 16"),
        (f"c i:write:{KEY}", "name"),
        (f"ci:write:{KEY},ci:read:{KEY}", "used twice"),
        # One secret under two names: which name (and scope) a request has is a guess.
        (f"ci:read:{KEY},ops:write:{KEY}", "same key"),
    ],
)
def test_a_bad_entry_stops_start_up_without_showing_the_key(entry, words):
    with pytest.raises(ConfigError, match="API_KEYS") as caught:
        load_settings({"API_KEYS": entry}, dotenv=None)
    assert words in str(caught.value)
    assert KEY not in str(caught.value)
    with pytest.raises(KeyFormatError):
        parse_keys(entry.split(","))


def test_the_key_parts_are_scrubbed_from_logs_and_the_names_are_not():
    settings = load_settings({"API_KEYS": f"ci:write:{KEY}"}, dotenv=None)
    assert KEY in settings.secrets and "ci" not in settings.secrets
    # parse_keys strips each part, so `ci:write: KEY` authenticates KEY: scrub KEY.
    spaced = load_settings({"API_KEYS": f"ci : write : {KEY}"}, dotenv=None)
    assert authenticate(parse_keys(spaced.api_keys), KEY) is not None
    assert KEY in spaced.secrets


def test_a_key_is_read_from_x_api_key_or_a_bearer_token():
    assert presented_key({"X-API-Key": f" {KEY} "}) == KEY
    assert presented_key({"Authorization": f"Bearer {KEY}"}) == KEY
    assert presented_key({"Authorization": f"bearer {KEY}"}) == KEY
    assert presented_key({"Authorization": f"Basic {KEY}"}) is None
    assert presented_key({"Authorization": "Bearer "}) is None
    assert presented_key({}) is None


def test_rate_limit_settings():
    settings = load_settings({"API_RATE_LIMIT": "5", "API_RATE_WINDOW_SECONDS": "60"}, dotenv=None)
    assert (settings.api_rate_limit, settings.api_rate_window_seconds) == (5, 60.0)
    defaults = load_settings({}, dotenv=None)
    assert (defaults.api_rate_limit, defaults.api_rate_window_seconds) == (100, 900.0)
    with pytest.raises(ConfigError, match="API_RATE_LIMIT"):
        load_settings({"API_RATE_LIMIT": "0"}, dotenv=None)
    with pytest.raises(ConfigError, match="API_RATE_WINDOW_SECONDS"):
        load_settings({"API_RATE_WINDOW_SECONDS": "0.5"}, dotenv=None)

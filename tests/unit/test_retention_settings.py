"""Retention settings: defaults, and no age short enough to forget a command
GitHub could still redeliver."""

from __future__ import annotations

import pytest

from app.config import ConfigError, load_settings


def settings(**env: str):
    return load_settings(env, dotenv=None)


def test_defaults():
    s = settings()
    assert (s.retention_days, s.retention_batch_size) == (30, 500)
    assert s.retention_pause_seconds == 0.05
    assert s.retention_seconds == 86_400


def test_zero_days_turns_retention_off_and_a_week_is_the_least_otherwise():
    assert settings(RETENTION_DAYS="0").retention_days == 0
    assert settings(RETENTION_DAYS="7").retention_days == 7
    with pytest.raises(ConfigError, match=r"RETENTION_DAYS: must be 0 .* or at least 7"):
        settings(RETENTION_DAYS="3")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RETENTION_BATCH_SIZE", "0"),
        ("RETENTION_DAYS", "-1"),
        ("RETENTION_PAUSE_SECONDS", "-1"),
        ("RETENTION_SECONDS", "x"),
    ],
)
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        settings(**{name: value})

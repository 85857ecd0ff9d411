"""Settings: defaults, `.env`, and one clear line for each bad value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.config import ConfigError, load_settings, parse_dotenv
from tests.fakes.keys import make_app_key

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_match_the_design():
    s = load_settings({}, dotenv=None)
    assert s.port == 3000
    assert s.github_api_url == "https://api.github.com"
    assert s.codegen_api_url == "https://api.codegen.com"
    assert s.trigger_label == "codegen"
    assert s.max_concurrent_workflows == 5
    assert s.workflow_timeout_ms == 300_000
    assert s.agent_run_timeout_ms == 3_600_000
    assert s.database_url is None
    assert not s.github_app_configured


def test_agent_run_timeout_is_its_own_setting():
    s = load_settings({"WORKFLOW_TIMEOUT": "60000", "AGENT_RUN_TIMEOUT": "5400000"}, dotenv=None)
    assert s.workflow_timeout_ms == 60_000 and s.agent_run_timeout_ms == 5_400_000
    with pytest.raises(ConfigError, match="AGENT_RUN_TIMEOUT"):
        load_settings({"AGENT_RUN_TIMEOUT": "500"}, dotenv=None)


def test_full_configuration_is_read():
    private, _ = make_app_key()
    s = load_settings(
        {
            "GITHUB_APP_ID": "1234",
            "GITHUB_PRIVATE_KEY": private.decode().replace("\n", "\\n"),
            "GITHUB_WEBHOOK_SECRET": "hook-secret",
            "GITHUB_API_URL": "https://ghe.example.com/api/v3/",
            "DATABASE_URL": "postgresql://bot:pw@db.internal:5432/bot",
            "PORT": "8080",
            "MAX_CONCURRENT_WORKFLOWS": "9",
            "API_KEYS": "ci:write:a-key-1-0123456789ab, dash:read:a-key-2-0123456789ab",
            "CODEGEN_ENABLE_MOCK_MODE": "true",
        },
        dotenv=None,
    )
    assert s.github_app_configured and s.github_app_id == 1234
    assert s.github_private_key.startswith("-----BEGIN")
    assert s.github_api_url == "https://ghe.example.com/api/v3"
    assert s.port == 8080 and s.max_concurrent_workflows == 9
    assert s.api_keys == ("ci:write:a-key-1-0123456789ab", "dash:read:a-key-2-0123456789ab")
    assert s.codegen_enable_mock_mode is True
    assert ":pw@" not in repr(s) and "hook-secret" not in repr(s)
    assert {"hook-secret", "a-key-1-0123456789ab", "a-key-2-0123456789ab"} <= set(s.secrets)


@pytest.mark.parametrize(
    ("env", "variable", "words"),
    [
        ({"GITHUB_APP_ID": "abc", "GITHUB_PRIVATE_KEY": "x"}, "GITHUB_APP_ID", "numeric"),
        ({"GITHUB_APP_ID": "12", "GITHUB_PRIVATE_KEY": "not a key"}, "GITHUB_PRIVATE_KEY", "PEM"),
        (
            {"GITHUB_APP_ID": "12", "GITHUB_PRIVATE_KEY_PATH": "/nonexistent/key.pem"},
            "GITHUB_PRIVATE_KEY_PATH",
            "cannot read",
        ),
        ({"GITHUB_APP_ID": "12"}, "GITHUB_PRIVATE_KEY", "go together"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL", "postgresql://"),
        ({"DATABASE_URL": "postgresql://u@host:notaport/db"}, "DATABASE_URL", "malformed"),
        ({"PORT": "eighty"}, "PORT", "whole number"),
        ({"MAX_CONCURRENT_WORKFLOWS": "0"}, "MAX_CONCURRENT_WORKFLOWS", "at least 1"),
        ({"GITHUB_API_URL": "api.github.com"}, "GITHUB_API_URL", "http(s) URL"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT", "text or json"),
        ({"CODEGEN_ENABLE_MOCK_MODE": "maybe"}, "CODEGEN_ENABLE_MOCK_MODE", "true or false"),
    ],
)
def test_bad_values_name_the_variable(env, variable, words):
    with pytest.raises(ConfigError) as info:
        load_settings(env, dotenv=None)
    assert info.value.variable == variable
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_dotenv_is_read_and_environment_wins(tmp_path):
    private, _ = make_app_key()
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# local settings\n"
        "export GITHUB_APP_ID=77\n"
        f'GITHUB_PRIVATE_KEY="{private.decode()}"\n'
        "TRIGGER_LABEL=ai-please  # inline comment\n"
        "PORT=4000\n"
    )
    s = load_settings({"PORT": "5000"}, dotenv=dotenv)
    assert s.github_app_id == 77
    assert s.github_private_key.strip() == private.decode().strip()
    assert s.trigger_label == "ai-please"
    assert s.port == 5000


def test_dotenv_errors_are_reported():
    with pytest.raises(ConfigError, match="line 2"):
        parse_dotenv("A=1\nthis is not an assignment\n")
    with pytest.raises(ConfigError, match="unterminated"):
        parse_dotenv('KEY="never closed\nmore\n')


def test_cli_stops_with_one_line_naming_the_variable(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "GITHUB_APP_ID": "twelve",
            "GITHUB_PRIVATE_KEY": "x",
        },
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "codegen-bot: configuration error: GITHUB_APP_ID: must be the App's numeric id, "
        "got 'twelve'"
    ]


@pytest.mark.parametrize(
    ("name", "raw", "said"),
    [
        ("CODEGEN_CREATE_WINDOW_SECONDS", "0", "must be above 0"),  # would limit nothing
        ("CODEGEN_CREATE_WINDOW_SECONDS", "-5", "must be above 0"),
        ("JOB_POLL_SECONDS", "nan", "finite"),  # NaN compares false to every bound
        ("RETENTION_SECONDS", "inf", "finite"),
        ("GITHUB_WRITE_INTERVAL", "-1", "at least 0"),
        ("BUDGET_CHECK_SECONDS", "1e308", "at most 1,000,000,000"),  # a timedelta overflows
        ("BUDGET_RUNS_PER_DAY", str(10**20), "at most 1,000,000,000"),  # a bigint overflows
        ("RETENTION_DAYS", "1000000", "at most 36,500"),  # a cut-off before year 1
    ],
)
def test_seconds_settings_refuse_what_would_disable_them(name, raw, said):
    with pytest.raises(ConfigError, match=name) as info:
        load_settings({name: raw}, dotenv=None)
    assert said in str(info.value)
    # 0 is still a valid spacing between writes (the tests use it).
    assert load_settings({"GITHUB_WRITE_INTERVAL": "0"}, dotenv=None).github_write_interval == 0

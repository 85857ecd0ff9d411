"""`.github/codegen.yml`: what it may say, and what happens when it is wrong."""

from __future__ import annotations

import time

import pytest

from app.repo_settings.config import RepoConfig, parse_config

DEFAULTS = RepoConfig(trigger_label="codegen", timeout_ms=300_000)


def test_empty_or_missing_settings_keep_the_defaults():
    assert parse_config("", DEFAULTS) == (DEFAULTS, [])
    assert parse_config("# nothing yet\n", DEFAULTS) == (DEFAULTS, [])


def test_every_setting_is_read():
    text = """
trigger_label: ai-implement
prompt:
  style: concise
  includeCodebaseContext: false
  include_dependencies: false
  includeValidationCriteria: false
retries: 1
timeout_minutes: 45
permission: maintain
validate: all
auto_merge: true
"""
    config, errors = parse_config(text, DEFAULTS)
    assert errors == []
    assert config.trigger_label == "ai-implement"
    assert config.prompt_style == "concise"
    assert (
        config.include_codebase_context,
        config.include_dependencies,
        config.include_validation_criteria,
    ) == (False, False, False)
    assert config.max_retries == 1
    assert config.timeout_ms == 45 * 60_000
    assert config.permission == "maintain"
    assert config.extra == {"validate": "all", "auto_merge": True}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("trigger_label: [oops\n", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        ("prompt:\n  style: verbose\n", "must be one of comprehensive, concise"),
        ("retries: many\n", "`retries` must be a whole number from 0 to 5"),
        ("retries: 9\n", "from 0 to 5"),
        ("timeout: 5\n", "`timeout` must be a whole number"),
        ("include_dependencies: sometimes\n", "must be true or false"),
        ("permission: read\n", "must be one of triage, write, maintain, admin"),
        ("trigerr_label: x\n", "unknown setting `trigerr_label`"),
    ],
)
def test_problems_are_named_and_defaults_fill_in(text, problem):
    config, errors = parse_config(text, DEFAULTS)
    assert any(problem in e for e in errors), errors
    assert config.trigger_label == DEFAULTS.trigger_label


def test_the_agent_run_has_its_own_timeout():
    assert DEFAULTS.run_timeout_ms == 60 * 60_000  # not the workflow's 5 minutes
    config, errors = parse_config("timeout_minutes: 5\nrun_timeout_minutes: 90\n", DEFAULTS)
    assert errors == [] and config.timeout_ms == 5 * 60_000
    assert config.run_timeout_ms == 90 * 60_000
    assert parse_config("run_timeout: 120000\n", DEFAULTS)[0].run_timeout_ms == 120_000
    for text in ("run_timeout_minutes: 0\n", "run_timeout: 5000\n", "run_timeout_minutes: x\n"):
        config, errors = parse_config(text, DEFAULTS)
        assert config.run_timeout_ms == DEFAULTS.run_timeout_ms
        assert len(errors) == 1 and "`run_timeout" in errors[0], errors


def test_good_settings_survive_a_bad_neighbour():
    config, errors = parse_config("trigger_label: ai\nretries: -1\n", DEFAULTS)
    assert config.trigger_label == "ai" and config.max_retries == DEFAULTS.max_retries
    assert len(errors) == 1


# 333 bytes of anchors and aliases: 9**7 (4.8 million) strings once expanded.
ALIAS_BOMB = (
    "# 9**7 strings expanded\n"
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdef", "bcdefg", strict=True)
    )
    + "retries: *g\nvalidation:\n  review: *g\n"
)


def test_an_alias_bomb_is_refused_promptly_in_one_short_sentence():
    assert len(ALIAS_BOMB) == 333
    started = time.process_time()
    config, errors = parse_config(ALIAS_BOMB, DEFAULTS)
    assert time.process_time() - started < 0.5
    assert config == DEFAULTS
    assert len(errors) == 1 and len(errors[0]) < 200
    assert "YAML anchors and aliases are not allowed" in errors[0]


@pytest.mark.parametrize(
    "text",
    [
        "retries: " + "[" * 30_000,  # deeper than any settings file
        "retries: " + "[" * 900 + "]" * 900,
        'retries: "' + "q" * 30_000 + '"\n',
        "validation:\n  review: " + "z" * 30_000 + "\n",
        "".join(f"k{i}_{'x' * 200}: {i}\n" for i in range(140)),
        "a: [" + ", ".join(["1"] * 20_000),
    ],
    ids=["deep-open", "deep", "long-string", "long-nested", "many-keys", "unclosed"],
)
def test_hostile_files_give_few_short_problems_fast(text):
    started = time.process_time()
    config, errors = parse_config(text, DEFAULTS)
    assert time.process_time() - started < 0.5
    assert config.max_retries == DEFAULTS.max_retries
    assert 1 <= len(errors) <= 21
    assert all(len(e) <= 200 for e in errors), [e[:300] for e in errors]
    assert sum(map(len, errors)) < 4_000


def test_a_file_over_the_size_cap_is_not_read():
    text = "retries: 1\n" + "# padding\n" * 4_000
    config, errors = parse_config(text, DEFAULTS)
    assert config.max_retries == DEFAULTS.max_retries  # its settings are not applied
    assert errors == [
        ".github/codegen.yml is longer than the 32,768 characters a settings file may "
        "have; it was not read"
    ]


def test_ignore_paths_are_capped_and_the_problem_said_shortly():
    globs = [f"dir{i}/*" for i in range(60)] + ["x" * 201]
    text = "validation:\n  ignore_paths:\n" + "".join(f"    - '{g}'\n" for g in globs)
    config, errors = parse_config(text, DEFAULTS)
    assert config.validation.ignore_paths == tuple(globs[:20])
    assert any("only the first 20 globs" in e for e in errors), errors
    assert any("over 200 characters ignored" in e for e in errors), errors
    assert all(len(e) < 100 for e in errors)


def outside_code(text: str) -> str:
    """The parts of a Markdown line outside its code spans."""
    return "".join(text.split("`")[0::2])


@pytest.mark.parametrize(
    "text",
    [
        "'x` @octocat <b>hi</b> `y': 1\n",  # a hostile key
        "retries: 'a` @octocat `b'\n",  # a hostile value
        "trigger_label: [\n@octocat `x` <img src=x>\n",  # YAML's own error quotes the file
        "instructions: 'a` @octocat `b'\n",
        "_extends: 'a` @octocat `b'\n",
    ],
)
def test_a_problem_never_mentions_anyone_or_leaves_its_code_span(text):
    from app.repo_settings.layers import extends_target

    _, errors = parse_config(text, DEFAULTS)
    if text.startswith("_extends"):
        errors = [extends_target("a` @octocat `b", "octo-org/widgets")[1]]
    assert errors
    for problem in errors:
        assert problem.count("`") % 2 == 0, problem
        outside = outside_code(problem)
        assert "@" not in outside and "<" not in outside, problem

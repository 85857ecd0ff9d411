"""Unit tests of what the `delivery` job decides for a stored delivery
(app/deliveries/dispatch.py), without a database or a GitHub App."""

from __future__ import annotations

import pytest

from app.deliveries.dispatch import (
    APP_LEVEL_EVENTS,
    FINISHED,
    Action,
    Decision,
    decide,
    is_own_event,
    status_after_failure,
)
from app.queue.worker import PermanentJobError


def _decide(**facts) -> Decision:
    given = {
        "event": "issues",
        "installation_id": 42,
        "has_handler": True,
        "own_event": False,
        "configured": True,
    }
    return decide(**{**given, **facts})


def test_an_event_no_handler_wants_is_ignored_whoever_sent_it():
    assert _decide(has_handler=False) == Decision(Action.IGNORE)
    assert _decide(has_handler=False, own_event=True, configured=False).action is Action.IGNORE


def test_our_own_bots_events_are_dropped_before_anything_else():
    assert _decide(own_event=True) == Decision(Action.DROP)
    assert _decide(own_event=True, configured=False).action is Action.DROP


def test_an_installation_event_gets_its_installations_token():
    assert _decide() == Decision(Action.DISPATCH, token_for=42)


@pytest.mark.parametrize("event", sorted(APP_LEVEL_EVENTS))
def test_app_level_events_are_handled_without_a_token_even_unconfigured(event):
    assert _decide(event=event) == Decision(Action.DISPATCH)
    assert _decide(event=event, configured=False) == Decision(Action.DISPATCH)


def test_a_delivery_without_installation_gets_no_token():
    assert _decide(installation_id=None, configured=False) == Decision(Action.DISPATCH)


def test_an_unconfigured_app_refuses_what_needs_a_token():
    assert _decide(configured=False) == Decision(Action.REFUSE)


def test_an_event_is_ours_only_when_its_sender_is_our_bot_user():
    data = {"sender": {"login": "codegen-bot[bot]", "type": "Bot"}}
    assert is_own_event(data, "codegen-bot[bot]")
    assert not is_own_event(data, "other-bot[bot]")
    assert not is_own_event(data, None)  # the App is not configured: nobody is us
    assert not is_own_event({"sender": "codegen-bot[bot]"}, "codegen-bot[bot]")
    assert not is_own_event({}, "codegen-bot[bot]")


def test_a_failed_delivery_waits_for_its_retry_unless_that_was_the_last():
    assert status_after_failure(1, 3, RuntimeError("boom")) == "queued"
    assert status_after_failure(3, 3, RuntimeError("boom")) == "failed"
    assert status_after_failure(1, 3, PermanentJobError("no")) == "failed"


def test_what_an_earlier_attempt_finished_is_not_done_again():
    assert FINISHED == {"processed", "ignored", "dropped"}
    assert "queued" not in FINISHED and "failed" not in FINISHED

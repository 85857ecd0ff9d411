"""Unit tests of the Codegen client's retry policy (app/codegen/pacing.py):
which answers are worth another try and how long to wait, without HTTP."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from tenacity import RetryCallState

from app.codegen.pacing import FINAL_STATUSES, RetryPolicy, retry_after, retryable_status
from app.codegen.runs import CodegenError


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 599])
def test_rate_limits_and_server_errors_are_retried(status):
    assert retryable_status(status)


@pytest.mark.parametrize("status", sorted(FINAL_STATUSES | {501, 505, 418, 400}))
def test_answers_a_retry_cannot_change_are_final(status):
    assert not retryable_status(status)


def test_retry_after_reads_seconds_or_an_http_date():
    assert retry_after("7") == 7.0
    assert retry_after("1.5") == 1.5
    assert retry_after("-3") == 0.0
    assert retry_after(None) is None
    assert retry_after("") is None
    assert retry_after("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert 50 < (retry_after(later) or 0) <= 60
    earlier = format_datetime(datetime.fromtimestamp(time.time() - 60, UTC), usegmt=True)
    assert retry_after(earlier) == 0.0


def _state(attempt: int, exc: BaseException) -> RetryCallState:
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempt
    state.set_exception((type(exc), exc, None))
    return state


def test_the_wait_honours_retry_after_else_backs_off_with_jitter_up_to_a_ceiling():
    policy = RetryPolicy(backoff_base=1.0, backoff_max=8.0)
    told = CodegenError("slow down", status=429, retryable=True, retry_after=12.0)
    assert policy.wait(_state(1, told)) == 12.0
    plain = CodegenError("down", status=503, retryable=True)
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)):
        for _ in range(20):
            assert ceiling / 2 <= policy.wait(_state(attempt, plain)) <= ceiling

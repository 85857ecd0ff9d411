"""What the lost-delivery sweep asks GitHub to redeliver, decided without I/O."""

from __future__ import annotations

from app.deliveries.sweep import LostDelivery, failed, lost, worth_redelivering


def entry(i: int, guid: str, code: int, status: str | None = None) -> dict:
    return {
        "id": i,
        "guid": guid,
        "status_code": code,
        "status": status or ("OK" if 200 <= code < 300 else f"Invalid HTTP Response: {code}"),
    }


def test_a_failure_is_a_non_2xx_or_a_status_other_than_ok():
    assert not failed(entry(1, "a", 202))
    assert failed(entry(1, "a", 502))
    assert failed(entry(1, "a", 0, "failed to connect to host"))
    assert failed(entry(1, "a", 200, "timed out"))


def test_refusals_of_the_bytes_themselves_are_not_redelivered():
    assert not worth_redelivering(entry(1, "a", 401))
    assert not worth_redelivering(entry(1, "a", 400))
    assert worth_redelivering(entry(1, "a", 429))
    assert worth_redelivering(entry(1, "a", 408))
    assert worth_redelivering(entry(1, "a", 503))
    assert not worth_redelivering(entry(1, "a", 202))


def test_one_redelivery_per_lost_guid_its_newest_attempt_oldest_guid_first():
    newest_first = [
        entry(9, "b", 502),  # b's second failed attempt
        entry(8, "stored", 502),
        entry(7, "c", 202),  # c got through on a later attempt
        entry(6, "a", 0, "timed out"),
        entry(5, "b", 502),
        entry(4, "c", 502),
        entry(3, "bad", 401),
    ]
    assert lost(newest_first, {"stored"}) == [LostDelivery(6, "a"), LostDelivery(9, "b")]
    assert lost([], set()) == []

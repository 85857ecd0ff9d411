"""The intake's reading of a delivery body (app/web/delivery_body.py): the same
facts as a full orjson parse, for every real payload and for hostile ones."""

from __future__ import annotations

import json

import orjson
import pytest

from app.web import delivery_body
from app.web.delivery_body import LAZY_MAX_BYTES, BodyFacts, NotJSON, read


def _by_orjson(body: bytes) -> tuple[str | None, int | None]:
    data = orjson.loads(body)
    action = data.get("action")
    installation = data.get("installation")
    number = installation.get("id") if isinstance(installation, dict) else None
    return (
        action if isinstance(action, str) else None,
        number if isinstance(number, int) and not isinstance(number, bool) else None,
    )


def test_every_real_payload_reads_as_orjson_reads_it(webhook_examples):
    count = 0
    for group in webhook_examples:
        for example in group["examples"]:
            for body in (json.dumps(example).encode(), json.dumps(example, indent=2).encode()):
                facts = read(body)
                assert (facts.action, facts.installation_id) == _by_orjson(body), group["name"]
                assert facts.whole is None
                count += 1
    assert count > 600  # the whole corpus (329 examples), twice


def test_the_whole_object_comes_when_asked():
    body = b'{"zen":"Design for failure.","hook_id":1,"installation":{"id":9}}'
    assert read(body, whole=True) == BodyFacts(None, 9, orjson.loads(body))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not JSON"),
        (b"{nope", "not JSON"),
        (b'{"a":1}{"b":2}', "not JSON"),
        (b'{"a":1,}', "not JSON"),
        (b'{"a":"\xff"}', "not JSON"),
        (b'{"a":"\\ud800"}', "not JSON"),
        (b'\xef\xbb\xbf{"action":"opened"}', "not JSON"),  # a byte-order mark
        (b"[1, 2]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b"[" * 5000 + b"]" * 5000, "not JSON"),  # deeper than either parser goes
    ],
)
def test_what_is_not_one_json_object_is_refused_with_the_reason(body, reason):
    for whole in (False, True):
        with pytest.raises(NotJSON, match=reason):
            read(body, whole=whole)


def test_oddities_orjson_accepts_are_accepted():
    # An integer past 64 bits: simdjson refuses it, orjson reads a float.
    body = b'{"action":"opened","big":' + b"9" * 30 + b',"installation":{"id":5}}'
    assert read(body) == BodyFacts("opened", 5, orjson.loads(body))
    # Not a string or not a number: not an action, not an installation.
    assert read(b'{"action":{"a":1},"installation":{"id":true}}') == BodyFacts(None, None, None)
    assert read(b'{"action":"x","installation":[1]}') == BodyFacts("x", None, None)


def test_a_body_over_the_lazy_bound_is_read_whole():
    body = json.dumps({"action": "edited", "pad": "x" * LAZY_MAX_BYTES}).encode()
    facts = read(body)
    assert facts.action == "edited" and facts.whole is not None


def test_the_shared_parser_reads_body_after_body():
    # No simdjson object outlives a read: each next body can use the parser,
    # after a refusal as after a success.
    for i in range(2000):
        if i % 3 == 0:
            with pytest.raises(NotJSON):
                read(b"[%d]" % i)
        else:
            assert read(b'{"action":"a%d"}' % i).action == f"a{i}"
    assert delivery_body._parser.parse(b'{"ok":true}').get("ok") is True


def test_mangled_bodies_get_orjsons_verdict():
    """Thousands of random byte edits of a real payload: refused exactly when
    orjson refuses them, and otherwise the same facts."""
    import random

    rng = random.Random(15)
    base = json.dumps(
        {"action": "labeled", "installation": {"id": 77}, "label": {"name": "codegen"}}
    ).encode()
    alphabet = b'{}[]",:0123456789.eE+-\\ \t\n\r\xef\xbb\xbf\x00\x80\xffatrufnlsu'
    differences = []
    for _ in range(5000):
        body = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(body) + 1)
            edit = rng.choice(("insert", "replace", "delete"))
            if edit == "insert":
                body[at:at] = bytes([rng.choice(alphabet)])
            elif at < len(body):
                if edit == "replace":
                    body[at] = rng.choice(alphabet)
                else:
                    del body[at]
        body = bytes(body)
        try:
            expected = _by_orjson(body) if isinstance(orjson.loads(body), dict) else "refused"
        except orjson.JSONDecodeError:
            expected = "refused"
        try:
            facts = read(body)
            got = (facts.action, facts.installation_id)
        except NotJSON:
            got = "refused"
        if got != expected:
            differences.append((body, expected, got))
    assert differences == []


@pytest.mark.parametrize(
    "number",
    [
        b"18446744073709551616",  # 2**64: simdjson's NUMBER_ERROR, not BIGINT_ERROR
        b"99999999999999999999",
        b"-18446744073709551616",
    ],
)
def test_an_integer_just_past_64_bits_is_accepted_as_orjson_accepts_it(number):
    body = b'{"action":"opened","big":' + number + b',"installation":{"id":5}}'
    assert read(body)[:2] == ("opened", 5)
    body = b'{"action":"opened","installation":{"id":' + number + b"}}"
    assert read(body)[:2] == ("opened", None)  # orjson reads a float: no installation


@pytest.mark.parametrize(
    "body",
    [
        b'{"action":"opened","action":"closed","installation":{"id":1}}',
        b'{"action":"opened","act\\u0069on":"closed","installation":{"id":1}}',
        b'{"action":"opened","installation":{"id":1},"installation":{"id":2}}',
        b'{"action":"opened","installation":{"id":1,"id":2}}',
        b'{"action":"opened","installation":{"id":1},"installation":null}',
    ],
)
def test_a_repeated_key_reads_as_orjson_reads_it_the_last_one(body):
    # The worker reads the stored body with orjson: the row's action and
    # installation must be the ones it will see.
    assert read(body)[:2] == _by_orjson(body)


def test_the_densest_lazy_body_leaves_little_memory_behind():
    """The shared parser keeps its buffers for good: the bound on what it reads
    bounds them (a 1 MB body of numbers left 10 MB behind)."""
    import subprocess
    import sys

    script = f"""
import gc
from app.web.delivery_body import read
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * 4096
n = {LAZY_MAX_BYTES}
body = b'{{"a":[' + b",".join([b"1"] * ((n - 10) // 2)) + b"]}}"
assert len(body) <= n
read(b'{{"action":"warm"}}')
before = rss()
assert read(body).whole is None  # read lazily, by the shared parser
gc.collect()
print(rss() - before)
"""
    grown = int(
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout
    )
    assert grown < 4 * 1024 * 1024

"""GitHub's manifest conversion answer is text from the network: whatever
`parse_conversion` accepts must reach `.env` and come back from it unchanged,
or be refused before the credentials are written (and lost)."""

from __future__ import annotations

import pytest

from app.config import parse_dotenv
from app.onboarding.credentials import parse_conversion
from app.onboarding.env_file import merge_env
from tests.fakes.keys import make_app_key

HOSTILE = [
    'a"b',
    "a\\b",
    "a\\nb",
    "a'b",
    "a b #c",
    "a\rb",
    "a\nb",
    "a\x00b",
    "a\x0bb",
    "a\x0cb",
    "a\x1cb",
    "a\x85b",
    "a\u2028b",
    "a\u2029b",
    " a ",
    "a=b",
    "#a",
]


@pytest.mark.parametrize("key", ["slug", "client_id", "client_secret", "webhook_secret"])
@pytest.mark.parametrize("value", HOSTILE)
def test_an_accepted_answer_round_trips_through_env(key, value):
    answer = {
        "id": 7,
        "slug": "s",
        "pem": make_app_key()[0].decode(),
        "webhook_secret": "w",
        "client_id": "c",
        "client_secret": "cs",
    } | {key: value}
    try:
        creds = parse_conversion(answer)
    except ValueError:
        return  # refused before anything is written: the page says so
    env = creds.env()
    text = merge_env("KEEP=1\n", env)
    assert parse_dotenv(text) == {"KEEP": "1", **env}


@pytest.mark.parametrize(
    "url", ["javascript:alert(document.cookie)//", "data:text/html,x", "//evil.example", 5]
)
def test_an_html_url_that_is_no_web_page_is_refused(url):
    """html_url becomes the success page's "install the App" link."""
    answer = {
        "id": 7,
        "slug": "s",
        "pem": make_app_key()[0].decode(),
        "client_id": "c",
        "client_secret": "cs",
        "html_url": url,
    }
    with pytest.raises(ValueError):
        parse_conversion(answer)
    assert parse_conversion(answer | {"html_url": "https://github.com/apps/s"}).html_url

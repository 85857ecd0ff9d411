"""Headers on answers no handler of ours shaped: aiohttp's own 404 and 405
pages and a refused webhook carry the baseline (nothing sniffed, nothing
framed, nothing run), and a page's own stricter headers are kept."""

from __future__ import annotations

from app.dashboard.web import CSP


def assert_error_headers(headers) -> None:
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"


async def test_an_unknown_path_and_a_wrong_method_send_the_error_headers(bot):
    async with bot.session.get(f"{bot.url}/no-such-page") as answer:
        assert answer.status == 404
        assert_error_headers(answer.headers)
    async with bot.session.delete(f"{bot.url}/health") as answer:
        assert answer.status == 405
        assert_error_headers(answer.headers)
    async with bot.session.post(bot.webhook_url, data=b"{}") as answer:
        assert answer.status in (401, 503)  # unsigned: refused either way
        assert_error_headers(answer.headers)


async def test_a_good_answer_is_not_sniffed_and_pages_keep_their_own(bot):
    async with bot.session.get(f"{bot.url}/health") as answer:
        assert answer.status == 200
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert "Content-Security-Policy" not in answer.headers
    async with bot.session.get(f"{bot.url}/login", allow_redirects=False) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Security-Policy"] == CSP
    async with bot.session.get(f"{bot.url}/api-docs") as answer:
        assert answer.status == 200  # Swagger UI's policy allows its own styles
        assert "style-src 'self' 'unsafe-inline'" in answer.headers["Content-Security-Policy"]

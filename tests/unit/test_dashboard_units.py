"""The dashboard's pure parts: session signing, CSRF tokens, the task list's
filters as SQL parameters, chart scaling, the security headers."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime

import pytest

from app.dashboard import charts, filters, oauth, sessions
from app.dashboard.web import CSP, SECURITY_HEADERS
from app.tasks.status import TaskStatus

KEY = sessions.derive_key("a-session-secret-of-some-length")
NOW = 1_800_000_000.0


def test_a_signed_session_round_trips_and_nothing_else_does():
    s = sessions.new_session("octocat", admin=False, now=NOW)
    cookie = sessions.sign(KEY, s)
    assert sessions.verify(KEY, cookie, NOW) == s
    # Another key, an altered body, a swapped signature, expiry, junk: all None.
    other = sessions.derive_key("another-secret")
    assert sessions.verify(other, cookie, NOW) is None
    body, mac = cookie.split(".")
    forged = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    forged["a"] = True
    forged_body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    assert sessions.verify(KEY, f"{forged_body}.{mac}", NOW) is None
    assert sessions.verify(KEY, cookie, NOW + sessions.SESSION_SECONDS + 1) is None
    for junk in (None, "", ".", "a.b.c", "x" * 5000, "@@@.@@@", cookie + "x"):
        assert sessions.verify(KEY, junk, NOW) is None
    # a validly signed body that is not a session is refused, not a crash
    odd = base64.urlsafe_b64encode(b'{"u": 1}').rstrip(b"=").decode()
    assert sessions.verify(KEY, f"{odd}.{sessions._mac(KEY, odd)}", NOW) is None


def test_admin_must_be_true_not_truthy():
    body = base64.urlsafe_b64encode(b'{"u":"x","a":"yes","c":"c","e":9999999999}')
    text = body.rstrip(b"=").decode()
    session = sessions.verify(KEY, f"{text}.{sessions._mac(KEY, text)}", NOW)
    assert session is not None and session.admin is False


def test_the_key_comes_from_the_first_secret_and_is_not_it():
    assert sessions.derive_key(None, "", "b-secret") == sessions.derive_key("b-secret")
    assert sessions.derive_key("a", "b") != sessions.derive_key("b")
    assert b"b-secret" not in sessions.derive_key("b-secret")
    with pytest.raises(ValueError):
        sessions.derive_key(None, "")


def test_csrf_tokens_are_bound_to_the_session_and_the_action():
    mine = sessions.new_session("octocat", admin=False, now=NOW)
    theirs = sessions.new_session("octocat", admin=False, now=NOW)
    token = sessions.csrf_token(KEY, mine, "/dashboard/tasks/1/retry")
    assert sessions.csrf_ok(KEY, mine, "/dashboard/tasks/1/retry", token)
    assert not sessions.csrf_ok(KEY, theirs, "/dashboard/tasks/1/retry", token)
    assert not sessions.csrf_ok(KEY, mine, "/dashboard/tasks/1/cancel", token)
    assert not sessions.csrf_ok(KEY, mine, "/dashboard/tasks/1/retry", None)
    assert not sessions.csrf_ok(KEY, None, "/dashboard/tasks/1/retry", token)


def test_signed_values_for_the_oauth_state():
    signed = sessions.sign_value(KEY, "abc_-123")
    assert sessions.unsign_value(KEY, signed) == "abc_-123"
    assert sessions.unsign_value(KEY, "abc_-124." + signed.split(".")[1]) is None
    assert sessions.unsign_value(sessions.derive_key("x" * 30), signed) is None
    assert sessions.unsign_value(KEY, None) is None


def test_filters_become_parameters_never_sql():
    flt = filters.parse(
        {
            "status": "running",
            "repository": "Octo-Org/Widgets",
            "requester": "@Mia",
            "since": "2026-11-01",
            "until": "2026-11-02",
            "q": "  50%_off  \\ sale ",
            "before": "120",
        }
    )
    assert flt.status == TaskStatus.RUNNING and flt.search == "50%_off \\ sale"
    clause, params = filters.where(flt, ["octo-org/widgets"])
    assert clause == (
        "WHERE lower(repository) = ANY($1::text[]) AND status = $2 AND lower(repository) = $3"
        " AND lower(triggered_by) = $4 AND created_at >= $5 AND created_at < $6"
        " AND title ILIKE $7 AND id < $8"
    )
    assert params == [
        ["octo-org/widgets"],
        "running",
        "octo-org/widgets",
        "mia",
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 11, 3, tzinfo=UTC),
        "%50\\%\\_off \\\\ sale%",
        120,
    ]
    # an operator's list: no repository clause; nothing asked: no WHERE at all
    assert filters.where(filters.parse({}), None) == ("", [])


def test_filters_drop_what_they_cannot_read():
    flt = filters.parse(
        {
            "status": "nonsense'); DROP TABLE tasks; --",
            "repository": "no slash",
            "requester": "a b",
            "since": "yesterday",
            "before": "-3",
            "q": "x" * 10_000,
        }
    )
    assert (flt.status, flt.repository, flt.requester, flt.since, flt.before) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert flt.search is not None and len(flt.search) == filters.MAX_SEARCH
    assert filters.parse({"before": "9" * 30}).before is None


def test_a_filter_makes_its_own_links():
    flt = filters.parse({"status": "failed", "q": "csv"})
    assert flt.query(before=40) == {"status": "failed", "q": "csv", "before": "40"}
    assert filters.next_cursor(list(range(100, 49, -1)), page_size=50) == 51
    assert filters.next_cursor(list(range(10)), page_size=50) is None


def test_chart_scaling():
    assert charts.nice_top(0) == 1.0
    assert charts.nice_top(0.7) == 1.0
    assert charts.nice_top(3) == 5.0
    assert charts.nice_top(12) == 20.0
    assert charts.nice_top(100) == 100.0
    assert charts.nice_top(501) == 1000.0
    days = [date(2026, 11, d) for d in (1, 2, 3)]
    chart = charts.build("runs", "count", [(days[0], 2.0), (days[1], None), (days[2], 4.0)])
    assert chart.top == 5.0 and chart.latest == 4.0
    left, right = chart.points
    assert left.x == charts.PAD_LEFT and right.x == charts.WIDTH - charts.PAD_RIGHT
    bottom, top = charts.HEIGHT - charts.PAD_BOTTOM, charts.PAD_TOP
    assert left.y == pytest.approx(bottom - (bottom - top) * 2 / 5)
    assert right.y == pytest.approx(bottom - (bottom - top) * 4 / 5)
    share = charts.build("x", "share", [(days[0], 1.0), (days[1], 0.0)])
    assert share.top == 1.0 and [p.y for p in share.points] == [top, bottom]
    empty = charts.build("x", "share", [(d, None) for d in days])
    assert not empty.has_data and empty.latest is None and empty.polyline == ""
    assert charts.label(0.875, "share") == "88%"
    assert charts.label(250, "seconds") == "4m 10s"
    assert charts.label(7300, "seconds") == "2h 1m"
    assert charts.label(None, "count") == "—"


def test_every_page_forbids_inline_script_and_framing():
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
    assert "frame-ancestors 'none'" in CSP and "default-src 'none'" in CSP
    assert SECURITY_HEADERS["X-Frame-Options"] == "DENY"
    assert SECURITY_HEADERS["Cache-Control"] == "no-store"


def test_write_access_as_github_reports_it():
    assert oauth.writable({"permissions": {"push": True, "pull": True}})
    assert oauth.writable({"permissions": {"maintain": True}})
    assert not oauth.writable({"permissions": {"triage": True, "pull": True}})
    assert not oauth.writable({})
    url = oauth.authorize_url("https://github.com/", "Iv1.x", "https://b/login/callback", "s t")
    assert url == (
        "https://github.com/login/oauth/authorize?client_id=Iv1.x"
        "&redirect_uri=https%3A%2F%2Fb%2Flogin%2Fcallback&state=s+t"
    )


def test_templates_escape_everything_and_links_must_be_http():
    from app.dashboard.access import Viewer
    from app.dashboard.render import render, safe_url
    from app.dashboard.store import TaskRow

    assert safe_url("https://github.com/o/r/pull/1") == "https://github.com/o/r/pull/1"
    for bad in ("javascript:alert(1)", " javascript:x", "data:text/html,x", None, "//evil"):
        assert safe_url(bad) == "#"
    now = datetime(2026, 11, 30, tzinfo=UTC)
    row = TaskRow(
        id=5,
        repository="o/r",
        issue_number=1,
        issue_url="javascript:alert(1)",
        title='<script>alert("t")</script>',
        status="running",
        triggered_by="<img src=x onerror=alert(1)>",
        attempt=1,
        pull_requests=[{"url": "javascript:alert(2)"}],
        created_at=now,
        updated_at=now,
    )
    page = render(
        "tasks.html",
        viewer=Viewer("octocat", False, ("o/r",)),
        csrf=lambda action: "token",
        now=now,
        live_every=3000,
        flt=filters.parse({"q": '"><script>'}),
        tasks=[row],
        next_query=None,
        statuses=list(TaskStatus),
        repositories=["o/r"],
        live_url="/dashboard/tasks.json?q=%22",
        live_rows=True,
    )
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert "<img src=x" not in page and 'value="&#34;&gt;&lt;script&gt;"' in page
    assert "javascript:" not in page
    assert page.count("<script") == 1  # ours, from /dashboard/static
    assert '<script src="/dashboard/static/live.js" defer></script>' in page


def test_a_registered_app_can_sign_people_in_to_the_dashboard():
    from app.dashboard.signin import CALLBACK_PATH
    from app.onboarding.manifest import build_manifest

    manifest = build_manifest(
        {"name": "x", "url": "https://example.com", "hook_attributes": {"url": "x"}},
        "https://bot.example.com/",
    )
    assert manifest["callback_urls"] == ["https://bot.example.com" + CALLBACK_PATH]

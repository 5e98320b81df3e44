"""Hostile input: bad input anywhere gets a 4xx, never a 500.

A corpus of nasty values — quotes, brackets, search operators, 10,000 characters, NUL,
control characters, right-to-left marks, emoji, SQL and HTML payloads, invalid UTF-8
percent-encoding, huge and negative numbers, impossible dates — is sent to

* every public GET route of the URL map, path parameters filled with real and bogus values,
  and every query parameter the code reads (found by scanning registry/ for `args.get("…")`
  and the `*_arg("…")` helpers, so a new parameter is attacked without editing this file);
* every admin route, logged in as a clerk or reviewer who may use it: GET pages with the same
  query strings, and every POST route with each field of every WTForms form set to each value.

Every backend of the `app` fixture (SQLite and PostgreSQL) must answer all of it below 500.
The figures are printed at the end of the pytest run (tests/conftest.py).
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from flask_wtf import FlaskForm

from tests.factories import csrf_token, login

ROOT = Path(__file__).resolve().parent.parent

# Values sent as they are (percent-encoded by the test) ...
TEXT = [
    "'",
    '"',
    "''; DROP TABLE listing; --",
    "' OR '1'='1",
    "1; SELECT pg_sleep(5)",
    "\\",
    "%",
    "_",
    "()",
    "[",
    "]",
    "{}",
    "*",
    "?",
    "~",
    "AND",
    "OR",
    "NOT",
    "a AND",
    "OR b",
    "NOT NOT",
    "(腾讯 OR",
    '"未闭合',
    "name:*",
    "field:[a TO",
    "^2",
    "x" * 10_000,
    "有限公司" * 2_500,
    "\x01\x02\x1b[31m\x7f",
    "\t\r\n",
    "\u202e\u200f\u200b\ufeff反向",
    "😀👨\u200d👩\u200d👧",
    "\U0010ffff",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "{{7*7}}",
    "../../../etc/passwd",
    "=cmd|' /C calc'!A0",
    "0",
    "-1",
    "-99999999999999999999",
    "99999999999999999999",
    "1e309",
    "NaN",
    "2026-02-30",
    "2026-13-01",
    "0000-00-00",
    "9999-12-31",
    "2026年2月30日",
    "true",
    "",
    " ",
]
# ... and raw percent-encodings that no str can express: NUL, invalid UTF-8, broken escapes.
RAW = ["%00", "a%00b", "%ff%fe", "%C0%AF", "%ED%A0%80", "%", "%zz", "%E4%B8"]


def encoded(value: str) -> str:
    return quote(value, safe="")


# CI sends every value where it is cheap (path parameters, whole query strings) and a
# representative subset per single parameter and form field; `make soak` sends everything.
SOAK = bool(os.environ.get("REGISTRY_SOAK"))
SHARP = [
    "' OR '1'='1",
    "(腾讯 OR",
    "NOT",
    "*",
    "x" * 10_000,
    "\x01\x1b[31m\x7f",
    "\u202e\u200f反向",
    "😀👨\u200d👩\u200d👧",
    '"><img src=x onerror=alert(1)>',
    "-99999999999999999999",
    "99999999999999999999",
    "-1",
    "2026-02-30",
    "",
]
VALUES = [encoded(v) for v in TEXT] + RAW
SHARP_VALUES = VALUES if SOAK else [encoded(v) for v in SHARP] + RAW


def _query_parameters() -> list[str]:
    """Every query parameter the code reads by name."""
    pattern = re.compile(r"""(?:args\.get(?:list)?|_arg)\(\s*["']([a-z_]+)["']""")
    names: set[str] = set()
    for path in (ROOT / "registry").rglob("*.py"):
        names.update(pattern.findall(path.read_text(encoding="utf-8")))
    return sorted(names)


QUERY_PARAMETERS = _query_parameters()


def _form_fields() -> list[str]:
    """Every field of every WTForms form the back-office uses."""
    from registry.web import auth
    from registry.web.admin import forms

    names: set[str] = set()
    for module in (forms, auth):
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, FlaskForm) and obj is not FlaskForm:
                names.update(
                    name
                    for name in dir(obj)
                    if not name.startswith("_")
                    and getattr(getattr(obj, name), "field_class", None) is not None
                )
    names.discard("csrf_token")
    return sorted(names)


class Tally:
    def __init__(self, figures) -> None:
        self.figures = figures
        self.failures: list[tuple[int, str, str, str]] = []
        self.last_error = ""

    def check(self, response, method: str, url: str) -> None:
        self.figures["hostile inputs tried"] += 1
        self.figures["hostile inputs answered 5xx"] += 0
        response.get_data()  # a streamed page (/screen) does its work as it is read
        if response.status_code >= 500:
            self.figures["hostile inputs answered 5xx"] += 1
            self.failures.append((response.status_code, method, url[:200], self.last_error))
        self.last_error = ""

    def assert_clean(self) -> None:
        assert not self.failures, self.failures[:20]


@pytest.fixture
def tally(app, security_figures):
    """Counts requests and 5xx answers; the app answers a crash with its 500 page (as in
    production) instead of raising into the test, and the exception is kept for the report."""
    from flask import got_request_exception

    app.config["PROPAGATE_EXCEPTIONS"] = False
    counter = Tally(security_figures)

    def remember(sender, exception, **extra):
        counter.last_error = f"{type(exception).__name__}: {str(exception)[:200]}"

    got_request_exception.connect(remember, app)
    yield counter
    got_request_exception.disconnect(remember, app)


class _ReadArgs:
    """Which query parameters a view reads: found by asking it, not by reading its code."""

    names: set[str] = set()


def _reads(app, client, url: str) -> set[str]:
    from werkzeug.datastructures import ImmutableMultiDict

    class Recording(ImmutableMultiDict):
        def get(self, key, *args, **kw):
            _ReadArgs.names.add(key)
            return super().get(key, *args, **kw)

        def getlist(self, key, *args, **kw):
            _ReadArgs.names.add(key)
            return super().getlist(key, *args, **kw)

        def __getitem__(self, key):
            _ReadArgs.names.add(key)
            return super().__getitem__(key)

        def __contains__(self, key):
            _ReadArgs.names.add(key)
            return super().__contains__(key)

    _ReadArgs.names = set()
    original = app.request_class
    app.request_class = type(
        "RecordingRequest", (original,), {"parameter_storage_class": Recording}
    )
    try:
        client.get(url)
    finally:
        app.request_class = original
    return _ReadArgs.names - {"lang"}  # the locale selector reads `lang` everywhere


@pytest.fixture
def published(make, session):
    """A published listing with its firm, a published notice: real values for path params."""
    from registry.services import notices

    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    listing = make.published_listing(clerk, reviewer)
    notice = notices.create_notice(
        session, clerk, slug="hostile-notice", title="2026年第一季度曝光公告"
    )
    notices.transition_notice(session, clerk, notice, "submit")
    notices.transition_notice(session, reviewer, notice, "publish")
    session.flush()
    return {
        "uscc": listing.enterprise.uscc,
        "firm_id": str(listing.enterprise_id),
        "slug": notice.slug,
        "code": "440000",
        "ext": "rss",
        "list_code": "bad",
        "filename": "css/site.css",
    }


def _path_values(argument: str, converter: str, real: dict[str, str]) -> list[str]:
    if converter == "AnyConverter":
        return ["bad", "dishonest"]
    if converter == "IntegerConverter":
        return [real.get(argument, "1"), "0", "99999999999999999999", "2147483648"]
    values = [real.get(argument, "x")]
    if argument == "ext":
        return ["rss", "atom", "json", "%00", "%ff%fe"]
    return values + SHARP_VALUES


def _urls(rule, real: dict[str, str]) -> list[str]:
    """The rule's URL with each path argument set to each of its values (others real)."""
    arguments = list(rule.arguments)
    converters = {name: type(conv).__name__ for name, conv in rule._converters.items()}

    def build(values: dict[str, str]) -> str:
        url = rule.rule
        for name in arguments:
            url = re.sub(r"<(?:[^:<>]+:)?" + name + r">", lambda _m, n=name: values[n], url)
            url = re.sub(r"<any\([^)]*\):" + name + r">", lambda _m, n=name: values[n], url)
        return url

    base = {name: _path_values(name, converters[name], real)[0] for name in arguments}
    urls = [build(base)]
    for name in arguments:
        for value in _path_values(name, converters[name], real)[1:]:
            urls.append(build(base | {name: value}))
    return urls


def _get_all(app, client, rule, real, tally: Tally) -> None:
    for url in _urls(rule, real):
        tally.check(client.get(url), "GET", url)
    first = _urls(rule, real)[0]
    read = _reads(app, client, first)
    tally.figures["query parameters attacked (route x name)"] += len(read)
    for name in sorted(read):
        for value in SHARP_VALUES:
            query = f"{name}={value}"
            tally.check(client.get(first, query_string=query), "GET", f"{first}?{query}")
    # Every known parameter at once, and query strings that are not key=value at all.
    everything = VALUES if read else SHARP_VALUES
    for query in ["&".join(f"{n}={v}" for n in QUERY_PARAMETERS) for v in everything] + [
        "%00",
        "%ff=%fe",
        "&&&==",
        "q",
    ]:
        tally.check(client.get(first, query_string=query), "GET", f"{first}?{query[:80]}")


def test_public_routes_survive_the_corpus(app, client, published, tally):
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods
        and not rule.rule.startswith("/admin")
        and rule.endpoint != "static"
    ]
    assert len(rules) > 20, "the URL map lost its public routes"
    for rule in rules:
        _get_all(app, client, rule, published, tally)
    # The static route: path traversal and odd names.
    for name in ["..%2f..%2fpyproject.toml", "%00", "%ff%fe", "css/%2e%2e/%2e%2e/README.md"]:
        tally.check(client.get(f"/static/{name}"), "GET", f"/static/{name}")
    tally.assert_clean()


def test_unknown_methods_and_headers(app, client, published, tally):
    for url in ["/", "/search?q=x", "/api/v1/search?q=x", "/admin/login"]:
        for method in ["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]:
            tally.check(client.open(url, method=method), method, url)
        for header in [
            {"Accept-Language": "\x00"},
            {"Accept-Language": "zz;q=abc, *;q=-1"},
            {"If-None-Match": '"' + "x" * 5000},
            {"If-Modified-Since": "2026-02-30"},
            {"Cookie": "lang=%00; registry_session=garbage"},
            {"Cookie": "lang=" + "é" * 100},
        ]:
            tally.check(client.get(url, headers=header), "GET", f"{url} {header}")
    tally.assert_clean()


# --- the back-office -------------------------------------------------------------------


def _cases():
    from tests.test_admin_policy import CASES

    return CASES


def _login_as(app, users, allowed: set[str]):
    for who in ("clerk_a", "reviewer_a", "reviewer_m", "clerk_m", "admin_a", "admin_m"):
        if who in allowed:
            client = app.test_client()
            assert login(client, users[who]).status_code == 302
            return client
    raise AssertionError(f"nobody of ours may use it: {allowed}")


@pytest.fixture
def users(make):
    from tests.test_admin_policy import MINISTRY, A

    return {
        "admin_a": make.user("admin", A),
        "admin_m": make.user("admin", MINISTRY),
        "clerk_a": make.user("clerk", A),
        "reviewer_a": make.user("reviewer", A),
        "clerk_m": make.user("clerk", MINISTRY),
        "reviewer_m": make.user("reviewer", MINISTRY),
    }


def test_admin_pages_survive_the_corpus(app, make, users, published, tally):
    """Every admin GET route, as a logged-in clerk and reviewer of the record's bureau."""
    from tests.test_admin_policy import _actors, _listing, _sanction

    actors = _actors(users)
    make.evidence_dir = app.config["EVIDENCE_DIR"]
    listing = _listing(make, actors, "published")
    sanction = _sanction(make, actors)
    from tests.test_admin_policy import _evidence, _notice, _submission

    evidence = _evidence(make, actors)
    notice = _notice(make, actors)
    from registry.services import petitions

    petition = petitions.record_petition(
        make.session,
        actors["clerk_a"].actor,
        listing,
        kind="objection",
        petitioner="某某公司",
        received_on=listing.decided_on,
    )
    make.session.flush()
    real = published | {
        "enterprise_id": str(listing.enterprise_id),
        "listing_id": str(listing.id),
        "sanction_id": str(sanction.id),
        "evidence_id": str(evidence.id),
        "notice_id": str(notice.id),
        "petition_id": str(petition.id),
        "record_id": str(listing.id),
        "submission_id": str(_submission(make, actors, "accepted").id),
        "batch_id": str(make.import_batch(actors["clerk_a"].actor).id),
    }
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and rule.rule.startswith("/admin")
    ]
    for who in ("clerk_a", "reviewer_a"):
        client = app.test_client()
        assert login(client, users[who]).status_code == 302
        for rule in rules:
            _get_all(app, client, rule, real, tally)
    tally.assert_clean()


FIELDS = _form_fields()
PDF = b"%PDF-1.7\n%%EOF\n"
# Form values: str can carry NUL and lone surrogates; each request may write, so CI sends the
# sharp subset to each field and the whole corpus to all fields at once.
FORM_EXTRA = ["\x00", "a\x00b"]
FORM_VALUES = TEXT + FORM_EXTRA
FORM_SHARP = FORM_VALUES if SOAK else SHARP + FORM_EXTRA


def _form_data(base: dict, field: str | None, value: str):
    data = {k: v for k, v in base.items() if k != "file"}
    # An upload form has one text field; a multipart body past 500 kB would be spooled to
    # a temporary file, which is not what this test is about (see tests/test_uploads.py).
    targets = [field] if field else (["description"] if "file" in base else FIELDS)
    for name in targets:
        data[name] = value
    return data


@pytest.mark.parametrize("endpoint", sorted(_cases()))
def test_admin_forms_survive_the_corpus(endpoint, app, make, session, users, tally):
    """Each field of every form, with every hostile value, posted to this write route on a
    record the user may change (setups shared with tests/test_admin_policy.py)."""
    from tests.test_admin_policy import _actors

    allowed, setup = _cases()[endpoint]
    make.evidence_dir = app.config["EVIDENCE_DIR"]

    actors = _actors(users)
    client = _login_as(app, users, allowed)
    token = csrf_token(client)
    url, base = setup(make, actors)
    session.flush()
    fields = sorted(set(base) - {"file"}) + [None]  # None: every field of every form at once
    for value in FORM_VALUES:
        for field in fields if value in FORM_SHARP else [None]:
            data = _form_data(base, field, value) | {"csrf_token": token}
            if "file" in base:
                data["file"] = (io.BytesIO(PDF), value or "x.pdf")
            response = client.post(url, data=data)
            tally.check(response, "POST", f"{url} {field}={value[:40]!r}")
    # The raw form body: NUL and invalid UTF-8 that a str cannot carry.
    if "file" not in base:
        for raw in RAW:
            body = "&".join(f"{k}={raw}" for k in set(base) | {"extra"}) + f"&csrf_token={token}"
            response = client.post(url, data=body, content_type="application/x-www-form-urlencoded")
            tally.check(response, "POST", f"{url} raw {raw}")
    tally.assert_clean()


def test_login_form_survives_the_corpus(app, client, tally):
    for value in FORM_VALUES + RAW:
        token = csrf_token(client)
        response = client.post(
            "/admin/login",
            data={"username": value, "password": value, "next": value, "csrf_token": token},
        )
        tally.check(response, "POST", f"/admin/login {value[:40]!r}")
    tally.assert_clean()


def test_stats_routes_and_their_parameters_are_attacked(app, client, published):
    """The statistics page and its twins are in the URL map the corpus walks, and the
    parameters they read are found, so each gets every value of the corpus."""
    paths = {rule.rule for rule in app.url_map.iter_rules()}
    assert {"/stats", "/stats.json", "/stats.csv"} <= paths
    for path in ("/stats", "/stats.json", "/stats.csv"):
        assert _reads(app, client, path) == {"year", "province"}
        assert {"year", "province"} <= set(QUERY_PARAMETERS)


# --- the public submission forms -----------------------------------------------------------

PUBLIC_FORMS = {
    "/objections/new?listing={id}": ("name", "capacity", "email", "phone", "statement"),
    "/repairs/new?listing={id}": ("name", "capacity", "email", "phone", "statement"),
    "/tips/new": ("authority", "subject_name", "subject_uscc", "statement", "name", "email"),
    "/track": ("number", "code"),
}


def test_public_submission_forms_survive_the_corpus(app, make, session, tally):
    """Every field of every public form, with every hostile value, and all at once; no
    account needed. Rate limits are lifted so that the values reach the services."""
    import dataclasses

    settings = app.config["SETTINGS"]
    app.config["SETTINGS"] = dataclasses.replace(
        settings, SUBMISSIONS_PER_ADDRESS=10**6, SUBMISSIONS_PER_TARGET=10**6
    )
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    listing = make.published_listing(clerk, reviewer, "B1")
    session.flush()
    base = {
        "name": "某某公司",
        "capacity": "firm",
        "email": "a@example.com",
        "phone": "1",
        "statement": "理由",
        "authority": "440000",
        "subject_name": "某某公司",
        "subject_uscc": "",
        "number": "YY261204AAAAAA",
        "code": "AAAA",
    }
    client = app.test_client()
    for pattern, fields in PUBLIC_FORMS.items():
        url = pattern.format(id=listing.id)
        token = re.search(
            r'name="csrf_token" type="hidden" value="([^"]+)"',
            client.get(url).get_data(as_text=True),
        ).group(1)
        for value in FORM_VALUES:
            for field in [*fields, None] if value in FORM_SHARP else [None]:
                data = {k: base[k] for k in fields} | {"csrf_token": token}
                for name in [field] if field else fields:
                    data[name] = value
                if pattern != "/track":
                    data["files"] = (io.BytesIO(PDF), value or "x.pdf")
                response = client.post(url, data=data, content_type="multipart/form-data")
                tally.check(response, "POST", f"{url} {field}={value[:40]!r}")
        for raw in RAW:
            body = "&".join(f"{k}={raw}" for k in fields) + f"&csrf_token={token}"
            response = client.post(url, data=body, content_type="application/x-www-form-urlencoded")
            tally.check(response, "POST", f"{url} raw {raw}")
    tally.assert_clean()
    from registry.models import Submission

    assert session.query(Submission).count() > 10  # the values did reach the services


def test_match_api_survives_the_corpus(app, client, published, tally):
    """POST /api/v1/match: every corpus value in every field, as a key, as the threshold and
    limit, and as the whole body."""
    url = "/api/v1/match"
    values = TEXT + [-1, 10**30, 1.5, None, [], {}, True]
    for value in values:
        for field in ("name", "uscc", "licence_no", "province"):
            body = {"queries": {"a": {field: value}}}
            tally.check(client.post(url, json=body), "POST", f"{url} {field}={value!r:.40}")
        if isinstance(value, str):
            body = {"queries": {value: {"name": value}}}
            tally.check(client.post(url, json=body), "POST", f"{url} key={value!r:.40}")
            for param in ("threshold", "limit"):
                response = client.post(
                    url, json={"queries": {"a": {}}}, query_string={param: value}
                )
                tally.check(response, "POST", f"{url}?{param}={value!r:.40}")
        tally.check(client.post(url, json=value), "POST", f"{url} body={value!r:.40}")
    for raw in (b"\xff\xfe", b"{" * 10_000, b'{"queries": {"a": {"name": "\\ud800"}}}'):
        response = client.post(url, data=raw, content_type="application/json")
        tally.check(response, "POST", f"{url} raw={raw[:20]!r}")
    tally.assert_clean()


def test_screen_upload_survives_the_corpus(app, client, published, tally):
    """POST /screen: corpus values as the threshold, the format, the file name and the file."""
    url = "/screen"
    token = csrf_token(client)
    good = "经营者名称\n深圳市测试网络科技有限公司\n".encode()
    for value in TEXT:
        for field in ("threshold", "format"):
            data = {"csrf_token": token, "file": (io.BytesIO(good), "a.csv"), field: value}
            response = client.post(url, data=data, content_type="multipart/form-data")
            tally.check(response, "POST", f"{url} {field}={value!r:.40}")
        for filename, body in (
            (value[:200] or "x", good),
            ("a.csv", value.encode("utf-8", "replace")),
        ):
            data = {"csrf_token": token, "file": (io.BytesIO(body), filename)}
            response = client.post(url, data=data, content_type="multipart/form-data")
            tally.check(response, "POST", f"{url} file={filename!r:.40}")
    for body in (
        b"\xff\xfe\x00",
        b"PK\x03\x04" + b"\x00" * 100,
        "经营者名称\n".encode() + b"=1+2\n" * 5,
    ):
        data = {"csrf_token": token, "file": (io.BytesIO(body), "a.xlsx")}
        response = client.post(url, data=data, content_type="multipart/form-data")
        tally.check(response, "POST", f"{url} body={body[:20]!r}")


def test_screen_report_download_survives_the_corpus(app, client, tally):
    """POST /screen/download: corpus values as the signed report and as the format."""
    token = csrf_token(client)
    for value in TEXT:
        for data in ({"report": value, "format": "csv"}, {"report": "e30.x", "format": value}):
            response = client.post("/screen/download", data=data | {"csrf_token": token})
            tally.check(response, "POST", f"/screen/download {data!r:.60}")
    tally.assert_clean()


def test_watchlist_forms_survive_the_corpus(app, client, session, tally, monkeypatch):
    """POST /watchlists/new and /watchlists/<token>: every corpus value in every field (the
    webhook URL is checked without resolving names: the corpus must not reach DNS)."""
    from registry.services import watchlists
    from registry.watchlists import webhook

    def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]  # a public address: no network is reached

    subscriber = watchlists.subscribe(
        session, "https://hooks.example.net/x", "s" * 20, "甲公司", resolve=resolve
    )
    session.flush()
    token = csrf_token(client)
    base = {"url": "https://hooks.example.net/y", "secret": "t" * 20, "firms": "乙公司"}
    monkeypatch.setattr(webhook, "system_resolver", resolve)
    for value in TEXT:
        for field in ("url", "secret", "firms"):
            data = base | {"csrf_token": token, field: value}
            response = client.post("/watchlists/new", data=data)
            tally.check(response, "POST", f"/watchlists/new {field}={value!r:.40}")
        for data in ({"email": value, "firms": "乙"}, {"email": "a@example.cn", "firms": value}):
            response = client.post("/watchlists/new", data=data | {"csrf_token": token})
            tally.check(response, "POST", f"/watchlists/new mail {data!r:.60}")
        for field in ("action", "firms"):
            data = {"csrf_token": token, "action": "firms", "firms": "丙"} | {field: value}
            url = f"/watchlists/{subscriber.token}"
            tally.check(client.post(url, data=data), "POST", f"{url} {field}={value!r:.40}")
    tally.assert_clean()


def test_saving_a_screening_report_survives_the_corpus(app, client, session, tally, monkeypatch):
    """POST /screen/watchlist: every corpus value in the scope, both firm lists and the
    subscriber's fields (names are not resolved: the corpus must not reach DNS)."""
    from registry.watchlists import webhook

    monkeypatch.setattr(webhook, "system_resolver", lambda host, port: ["93.184.216.34"])
    token = csrf_token(client)
    base = {
        "scope": "all",
        "firms_all": "乙公司",
        "firms_matched": "",
        "url": "https://hooks.example.net/y",
        "secret": "t" * 20,
    }
    for value in TEXT:
        for field in base | {"email": ""}:
            data = base | {"csrf_token": token, field: value}
            response = client.post("/screen/watchlist", data=data)
            tally.check(response, "POST", f"/screen/watchlist {field}={value!r:.40}")
    tally.assert_clean()


def test_campaign_routes_and_their_parameters_are_attacked(app, client, make, session, tally):
    """The campaign pages, API and feed are in the URL map the corpus walks, and the page
    parameter they read gets every value of the corpus on a real campaign."""
    paths = {rule.rule for rule in app.url_map.iter_rules()}
    assert {
        "/campaigns",
        "/campaigns/<slug>",
        "/api/v1/campaigns",
        "/api/v1/campaigns/<slug>",
        "/feeds/campaigns/<slug>.atom",
    } <= paths
    make.campaign("hostile-campaign")
    session.flush()
    for path in ("/campaigns/hostile-campaign", "/api/v1/campaigns/hostile-campaign"):
        assert _reads(app, client, path) == {"page"}
        for value in SHARP_VALUES:
            tally.check(client.get(path, query_string=f"page={value}"), "GET", path)
    for value in SHARP_VALUES:
        for url in (f"/campaigns/{value}", f"/feeds/campaigns/{value}.atom"):
            tally.check(client.get(url), "GET", url)
    tally.assert_clean()

"""What the public pages' requests cost besides their work: our code reads the request and
the app without Flask's context proxies, and raises no exception that it then catches.

Each attribute read through a proxy (`request.args`, `current_app.config`) is first looked
up on the proxy's own class, which fails: an AttributeError is made, its message formatted,
and dropped before the proxy asks the real object. A query string's `get` of a parameter
not given raised and caught an HTTP exception. Both were a tenth of a search page's
instructions; these tests keep them out of the public pages."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest
from werkzeug.test import EnvironBuilder

import registry

PACKAGE = str(Path(registry.__file__).resolve().parent)
PROXIES = "werkzeug/local.py"
FRAMEWORK = ("/flask/", "/werkzeug/", "/flask_babel/", "/flask_login/", "/jinja2/", "/markupsafe/")
# Exceptions that end an iteration or a generator: how Python ends them, not an error.
ENDINGS = (StopIteration, GeneratorExit)


@pytest.fixture
def published(make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    firms = []
    for n in range(3):
        firm = make.enterprise(clerk, name=f"台州市青龙第{n}通信有限公司")
        make.published_listing(clerk, reviewer, "B3", enterprise=firm)
        firms.append(firm)
    return firms


def _pages(firms) -> list[tuple[str, str]]:
    """Pairs of a page asked for first (it loads what the process keeps: the index, the
    catalogue, the layout) and a page of the same view asked for next, the one traced
    (another address: the public cache does not answer it)."""
    first, second = firms[0].uscc, firms[1].uscc
    return [
        ("/search?q=%E9%9D%92%E9%BE%99", "/search?q=%E9%9D%92%E9%BE%99%E7%AC%AC"),  # 青龙(第)
        ("/search?q=%E9%9D%92%E9%BE%99&lang=en", "/search?q=%E9%80%9A%E4%BF%A1&page=1&lang=en"),
        ("/api/v1/search?q=%E9%9D%92%E9%BE%99", "/api/v1/search?q=%E9%80%9A%E4%BF%A1"),
        (f"/enterprises/{first}", f"/enterprises/{second}"),
        (f"/feeds/enterprises/{first}.atom", f"/feeds/enterprises/{second}.atom"),
        ("/feeds/search.rss?q=%E9%9D%92%E9%BE%99", "/feeds/search.atom?q=%E9%80%9A%E4%BF%A1"),
    ]


def _web_stack(filename: str) -> bool:
    """Whether `filename` is our code's or the web framework's: the database's libraries
    (the ORM's session keeps weak sets, whose iteration ends on an IndexError) are not
    in question here."""
    return filename.startswith(PACKAGE) or any(part in filename for part in FRAMEWORK)


def _served(app, path: str, tracer: str, hook) -> str:
    """The app's answer to a GET of `path` (its status), with `hook` set as the profile or
    trace function while the app runs and its body is read (and only then: the request is
    made before, as a server makes it)."""
    environ = EnvironBuilder(path=path, base_url="http://localhost").get_environ()
    statuses: list[str] = []
    setter = sys.setprofile if tracer == "profile" else sys.settrace
    setter(hook)
    try:
        body = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
        for _chunk in body:
            pass
        if hasattr(body, "close"):
            body.close()
    finally:
        setter(None)
    return statuses[0]


def test_the_public_pages_read_no_context_proxy_from_our_code(app, client, published):
    for first, path in _pages(published):
        assert client.get(first).status_code == 200, first
        readers: Counter[str] = Counter()

        def profile(frame, event, _arg, readers=readers):
            code = frame.f_code
            # (`_get_current_object`, the proxy's own function, is how to read past it)
            if (
                event == "call"
                and code.co_filename.endswith(PROXIES)
                and code.co_name != "_get_current_object"
            ):
                caller = frame.f_back
                if caller is not None and caller.f_code.co_filename.startswith(PACKAGE):
                    readers[f"{caller.f_code.co_filename}:{caller.f_lineno}"] += 1

        assert _served(app, path, "profile", profile).startswith("200"), path
        assert not readers, (path, readers)


def test_the_public_pages_raise_no_exception_they_catch(app, client, published):
    for first, path in _pages(published):
        assert client.get(first).status_code == 200, first
        raised: Counter[str] = Counter()

        def trace(frame, event, arg, raised=raised):
            if event == "exception":
                kind, _value, traceback = arg
                # Where it was raised (not each frame it passed through on its way out).
                if (
                    traceback.tb_next is None
                    and not issubclass(kind, ENDINGS)
                    and _web_stack(frame.f_code.co_filename)
                ):
                    code = frame.f_code
                    raised[f"{kind.__name__} in {code.co_filename}:{frame.f_lineno}"] += 1
            return trace

        assert _served(app, path, "trace", trace).startswith("200"), path
        assert not raised, (path, raised)

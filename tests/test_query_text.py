"""The input gate's check that a query string is UTF-8 text, made by parsing it once
(registry.web.query_is_text): the parameters it keeps are werkzeug's parse of the same
query, and a query that is not text is refused with a 400 in the visitor's language."""

from __future__ import annotations

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from registry.web import AppRequest, query_is_text

TEXT = [
    "q=%E6%96%B0%E6%96%87&page=2",
    "q=%e6%96%b0",  # lower-case escapes
    "q=新文",  # raw UTF-8, as some clients send it
    "a&b=&=c&&",
    "q=+x+y+&q=%2B",
    "q=%25ff",  # an escaped percent sign: the text "%ff"
    "lang=en&lang=zh_Hans",
    "",
]
NOT_TEXT = ["q=%ff", "q=%E4%B8", "%ff=1", "q=%C0%AF", "q=%ED%A0%80"]


def _environ(query: str) -> dict:
    environ = EnvironBuilder(path="/search").get_environ()
    # As a server hands it over: the raw bytes as latin-1 text (PEP 3333).
    environ["QUERY_STRING"] = query.encode("utf-8").decode("latin-1")
    return environ


@pytest.mark.parametrize("query", TEXT)
def test_a_query_of_text_keeps_the_parameters_werkzeug_parses(query):
    ours = AppRequest(_environ(query))
    assert query_is_text(ours)
    theirs = Request(_environ(query))
    assert list(ours.args.items(multi=True)) == list(theirs.args.items(multi=True))


@pytest.mark.parametrize("query", NOT_TEXT)
def test_a_query_that_is_not_text_is_told(query):
    assert not query_is_text(AppRequest(_environ(query)))


def test_raw_bytes_that_are_not_utf8_are_told():
    environ = _environ("")
    environ["QUERY_STRING"] = b"q=\xff\xfe".decode("latin-1")
    assert not query_is_text(AppRequest(environ))


@pytest.mark.parametrize("query", NOT_TEXT)
def test_the_search_page_refuses_a_query_that_is_not_text(client, query):
    answer = client.get("/search?" + query)
    assert answer.status_code == 400
    assert "网址参数不是有效的 UTF-8 文本。" in answer.get_data(as_text=True)


def test_the_search_page_reads_a_query_of_text_the_gate_parsed(client):
    answer = client.get("/search?q=%E6%96%B0%E6%96%87&page=1")
    assert answer.status_code == 200
    assert 'value="新文"' in answer.get_data(as_text=True)

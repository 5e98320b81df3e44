"""The search page's markup built in Python (registry/web/hitlist.py) escapes every value
as the template's autoescaping did."""

from __future__ import annotations

import random

from markupsafe import escape

from registry.web.hitlist import escape_text


def test_escape_text_is_markupsafes_escape():
    rng = random.Random(3)
    alphabet = "&<>'\"a中 \x00\n%#;=?\u3000\U0001f600"
    samples = ["", "&amp;", "<script>alert('x')</script>", 'a"b'] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(12))) for _ in range(2000)
    ]
    for value in samples:
        assert escape_text(value) == str(escape(value))


def test_a_search_page_escapes_the_query_everywhere_it_shows_it(client):
    hostile = "\"><script>alert('x')</script>&"
    body = client.get("/search", query_string={"q": hostile}).get_data(as_text=True)
    assert "<script>alert" not in body
    escaped = str(escape(hostile))
    assert f'value="{escaped}"' in body  # the form
    assert f"<title>查询：{escaped} - " in body

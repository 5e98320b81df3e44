"""JSON answers are written by orjson (registry.web.jsonanswers) with the values Flask's own
provider writes: the same JSON, keys sorted, compact, text as UTF-8."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from flask import Flask, jsonify
from flask.json.provider import DefaultJSONProvider
from markupsafe import Markup

from registry.web.jsonanswers import JSONAnswers


@dataclasses.dataclass
class Point:
    x: int
    label: str


VALUE = {
    "名称": "深圳市某某科技有限公司",
    "b": [1, 2.5, None, True, False],
    "a": {"z": 1, "y": {"nested": "值"}},
    "day": date(2026, 1, 2),
    "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    "amount": Decimal("1500.00"),
    "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "point": Point(1, "东"),
    "markup": Markup("<b>粗</b>"),
    "escapes": 'quote " backslash \\ newline \n tab \t nul \x00 line sep \u2028',
}


def _flask_app(debug: bool = False) -> Flask:
    app = Flask(__name__)
    app.debug = debug
    app.json = JSONAnswers(app)
    return app


def test_same_json_as_flasks_provider_keys_sorted_compact_utf8():
    app = _flask_app()
    with app.test_request_context():
        body = jsonify(VALUE).get_data()
        expected = DefaultJSONProvider(app).response(VALUE).get_data()
    assert json.loads(body) == json.loads(expected)
    assert body.endswith(b"}\n")
    assert "深圳市某某科技有限公司".encode() in body and "值".encode() in body
    top = list(json.loads(body))
    assert top == sorted(top)
    decoded = json.loads(body)
    assert decoded["day"] == "Fri, 02 Jan 2026 00:00:00 GMT"  # as Flask writes a date
    assert decoded["amount"] == "1500.00" and decoded["point"] == {"x": 1, "label": "东"}


def test_compact():
    app = _flask_app()
    with app.test_request_context():
        body = jsonify({"b": {"d": [1, 2], "c": None}, "a": "x"}).get_data()
    assert body == b'{"a":"x","b":{"c":null,"d":[1,2]}}\n'


def test_what_orjson_refuses_is_written_by_flasks_provider():
    app = _flask_app()
    with app.test_request_context():
        response = jsonify({"big": 2**70, "text": "中"})
    assert json.loads(response.get_data()) == {"big": 2**70, "text": "中"}
    assert b"\\u4e2d" in response.get_data()  # Flask's provider: ASCII escapes


def test_debug_mode_keeps_flasks_readable_form():
    app = _flask_app(debug=True)
    with app.test_request_context():
        body = jsonify({"b": 1, "a": 2}).get_data()
    assert body == b'{\n  "a": 2,\n  "b": 1\n}\n'


def test_the_registry_answers_json_as_utf8(client):
    response = client.get("/api/v1/search?q=%E5%85%AC%E5%8F%B8")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert b"\\u" not in response.get_data()
    assert json.loads(response.get_data())["page"] == 1

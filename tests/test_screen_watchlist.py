"""Saving a screening report as a watchlist (POST /screen/watchlist): the report page carries
its firms, the subscriber's fields go through /watchlists/new's own checks, nothing is kept
before the user saves, and bad or oversized firm lists are a 400 with a message."""

from __future__ import annotations

import dataclasses
import html
import re

import pytest
from sqlalchemy import func, select

from registry.models import WatchSubscriber
from registry.services import watchlists as service
from tests.factories import csrf_token
from tests.test_csrf import snapshot
from tests.test_screen import ROWS, _csv, _post, listed  # noqa: F401 (the fixture)

SECRET = "secret-of-the-screening-team"
HOOK = "http://127.0.0.1:9/hook"


def _allow_local(app) -> None:
    settings = app.config["SETTINGS"]
    app.config["SETTINGS"] = dataclasses.replace(settings, WEBHOOK_ALLOWED_HOSTS="127.0.0.1")


def _hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, name
    return html.unescape(found.group(1))


def _report(client) -> dict[str, str]:
    response = _post(client, _csv(ROWS))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    return {name: _hidden(page, name) for name in ("firms_matched", "firms_all")}


def _save(client, fields: dict[str, str], **form: str):
    data = fields | {"csrf_token": csrf_token(client)} | form
    return client.post("/screen/watchlist", data=data, content_type="multipart/form-data")


def _count(session) -> int:
    return session.scalar(select(func.count()).select_from(WatchSubscriber))


def test_the_report_carries_the_matched_uscc_and_every_row(client, listed, session):  # noqa: F811
    before = snapshot(session)
    fields = _report(client)
    assert fields["firms_matched"].splitlines() == [listed.uscc]
    assert fields["firms_all"].splitlines() == [
        "華信（深圳）網絡科技有限公司",
        "某某无关贸易有限公司",  # its USCC had a bad check character: kept by name
        "北京云帆数据科技有限公司",
    ]
    assert snapshot(session) == before  # nothing kept before saving


def test_saving_the_matched_firms_makes_a_webhook_subscriber(app, client, listed, session):  # noqa: F811
    _allow_local(app)
    response = _save(client, _report(client), scope="matched", url=HOOK, secret=SECRET)
    assert response.status_code == 303
    token = response.headers["Location"].rsplit("/", 1)[1]
    subscriber = service.by_token(session, token)
    assert subscriber.url == HOOK and subscriber.secret == SECRET and subscriber.confirmed
    assert [(f.uscc, f.name_key) for f in service.firms_of(session, subscriber)] == [
        (listed.uscc, None)
    ]
    assert client.get(response.headers["Location"]).status_code == 200


def test_saving_every_row_by_mail_waits_for_the_confirmation(client, listed, session):  # noqa: F811
    response = _save(client, _report(client), scope="all", email="team@example.cn")
    assert response.status_code == 200
    assert "确认邮件已发往" in response.get_data(as_text=True)
    subscriber = session.scalars(select(WatchSubscriber)).one()
    assert subscriber.email == "team@example.cn" and not subscriber.confirmed
    labels = [f.label for f in service.firms_of(session, subscriber)]
    assert labels == [
        "華信（深圳）網絡科技有限公司",
        "某某无关贸易有限公司",
        "北京云帆数据科技有限公司",
    ]


@pytest.mark.parametrize(
    "form, says",
    [
        ({"scope": "everything"}, "请选择要关注的经营者"),
        ({"scope": ""}, "请选择要关注的经营者"),
        ({"firms_all": "\n".join(f"公司{i}" for i in range(10_001))}, "最多关注 10000 个"),
        ({"firms_all": "甲" * 201}, "每行不超过 200 个字符"),
        ({"firms_all": ""}, "请填写要关注的经营者"),
        ({"url": "http://10.0.0.1/hook"}, "watch-url-error"),
        ({"secret": "short"}, "watch-secret-error"),
        ({"url": "", "email": "not-an-address"}, "watch-email-error"),
    ],
)
def test_bad_input_is_400_with_a_message_and_saves_nothing(client, session, form, says):
    fields = {"scope": "all", "firms_all": "甲公司", "url": "https://hooks.example.net/x"}
    response = _save(client, fields | {"secret": SECRET} | form)
    assert response.status_code == 400
    assert says in response.get_data(as_text=True)
    assert _count(session) == 0


def test_ten_thousand_firms_are_accepted(app, client, session):
    _allow_local(app)
    firms = "\n".join(f"深圳市第{i:05d}号网络科技有限公司" for i in range(10_000))
    response = _save(client, {"scope": "all", "firms_all": firms}, url=HOOK, secret=SECRET)
    assert response.status_code == 303
    assert len(service.firms_of(session, session.scalars(select(WatchSubscriber)).one())) == 10_000


def test_saving_without_a_csrf_token_is_refused(app, client, session):
    _allow_local(app)
    data = {"scope": "all", "firms_all": "甲公司", "url": HOOK, "secret": SECRET}
    for token in (None, "forged-" + "x" * 40):
        sent = data | ({"csrf_token": token} if token else {})
        response = client.post("/screen/watchlist", data=sent, content_type="multipart/form-data")
        assert response.status_code == 400
    assert _count(session) == 0

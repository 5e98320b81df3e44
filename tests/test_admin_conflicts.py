"""Back-office forms that carry a record's version: one loaded before someone else saved
the record is refused with 409, and nothing of it is written (no change, no Event)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from registry.models import Event, Evidence, Listing, Notice, Sanction
from registry.services import evidence as evidence_service
from registry.services import listings, notices, sanctions
from registry.services.accounts import actor_for
from tests.factories import login, post

A = "440000"
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _events(session) -> int:
    return session.scalar(select(func.count(Event.id)))


def _evidence(app, session, make, clerk):
    who = actor_for(clerk)
    owner = make.sanction(who, make.enterprise(who))
    item = evidence_service.add_evidence(
        session,
        who,
        owner,
        data=PDF,
        filename="决定书.pdf",
        evidence_dir=app.config["EVIDENCE_DIR"],
        max_bytes=app.config["MAX_UPLOAD_BYTES"],
    )
    session.flush()
    return item


def _evidence_changed_by_another(session, reviewer, item):
    evidence_service.set_public(session, actor_for(reviewer), item, True)


def _sanction(app, session, make, clerk):
    who = actor_for(clerk)
    return make.sanction(who, make.enterprise(who))


def _sanction_changed_by_another(session, clerk, item):
    sanctions.update_sanction(session, actor_for(clerk), item, facts="另一位录入员改过的事实")


def _listing(app, session, make, clerk):
    return make.listing(actor_for(clerk))


def _listing_changed_by_another(session, clerk, item):
    listings.update_listing(session, actor_for(clerk), item, facts="另一位录入员改过的事实")


def _notice(app, session, make, clerk):
    return notices.create_notice(
        session,
        actor_for(clerk),
        slug=f"conflict-{make.enterprise(actor_for(clerk)).id}",
        title="公告",
    )


def _notice_changed_by_another(session, clerk, item):
    notices.update_notice(session, actor_for(clerk), item, title="另一位录入员改过的标题")


# (record maker, change by someone else, who, url, form data, the record's model)
CASES = {
    "evidence retract": (
        _evidence,
        lambda s, people, item: _evidence_changed_by_another(s, people["reviewer"], item),
        "reviewer",
        "/admin/evidence/{id}/retract",
        {"reason": "上传错了文件"},
        Evidence,
    ),
    "evidence mark public": (
        _evidence,
        lambda s, people, item: _evidence_changed_by_another(s, people["reviewer"], item),
        "reviewer",
        "/admin/evidence/{id}/public",
        {"public": "0"},
        Evidence,
    ),
    "sanction submit": (
        _sanction,
        lambda s, people, item: _sanction_changed_by_another(s, people["clerk"], item),
        "clerk",
        "/admin/sanctions/{id}/submit",
        {},
        Sanction,
    ),
    "listing submit": (
        _listing,
        lambda s, people, item: _listing_changed_by_another(s, people["clerk"], item),
        "clerk",
        "/admin/listings/{id}/submit",
        {},
        Listing,
    ),
    "notice submit": (
        _notice,
        lambda s, people, item: _notice_changed_by_another(s, people["clerk"], item),
        "clerk",
        "/admin/notices/{id}/submit",
        {},
        Notice,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_stale_version_posted_is_a_409_and_writes_nothing(app, make, session, case):
    maker, change, role, url, data, model = CASES[case]
    people = {"clerk": make.user("clerk", A), "reviewer": make.user("reviewer", A)}
    item = maker(app, session, make, people["clerk"])
    session.flush()
    loaded_version = item.version_id
    change(session, people, item)
    session.flush()
    assert item.version_id > loaded_version
    saved = {c.key: getattr(item, c.key) for c in model.__table__.columns}
    before = _events(session)

    client = app.test_client()
    assert login(client, people[role]).status_code == 302
    response = post(client, url.format(id=item.id), {**data, "version_id": loaded_version})

    assert response.status_code == 409
    assert "已被他人修改" in response.get_data(as_text=True)
    assert _events(session) == before
    session.expire_all()
    fresh = session.get(model, item.id)
    assert {c.key: getattr(fresh, c.key) for c in model.__table__.columns} == saved

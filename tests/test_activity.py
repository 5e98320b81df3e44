"""The back office's activity and history read as sentences: names linked, verbs and kinds
of record in the reader's language, no raw ids or column names."""

from __future__ import annotations

import re

from registry.services import listings
from registry.services.accounts import actor_for
from tests.factories import login

A = "440000"


def _client(app, user, lang=None):
    client = app.test_client()
    assert login(client, user).status_code == 302
    return client


def test_dashboard_activity_names_and_links_the_firm_and_translates_the_verb(app, make, session):
    clerk_user, reviewer_user = make.user("clerk", A), make.user("reviewer", A)
    clerk, reviewer = actor_for(clerk_user), actor_for(reviewer_user)
    item = make.published_listing(clerk, reviewer)
    listings.remove_listing(session, reviewer, item, "已整改", filing_confirmed=True)
    session.flush()
    page = _client(app, reviewer_user).get("/admin/").get_data(as_text=True)
    activity = page[page.index('id="activity"') :]
    link = f'<a href="/admin/listings/{item.id}">{item.enterprise.name}（B3）</a>'
    assert link in activity
    assert "提前移出 名单记录" in activity and "公示 名单记录" in activity
    assert reviewer_user.display_name in activity
    assert not re.search(r"#\d", activity) and " listing " not in activity
    english = _client(app, reviewer_user).get("/admin/?lang=en").get_data(as_text=True)
    english_activity = english[english.index('id="activity"') :]
    assert "名单记录" not in english_activity.split("</section>")[0]


def test_record_history_names_people_and_fields(app, make, session):
    clerk_user, reviewer_user = make.user("clerk", A), make.user("reviewer", A)
    clerk, reviewer = actor_for(clerk_user), actor_for(reviewer_user)
    item = make.listing(clerk)
    listings.submit_listing(session, clerk, item)
    listings.publish_listing(session, reviewer, item)
    session.flush()
    page = _client(app, clerk_user).get(f"/admin/listings/{item.id}").get_data(as_text=True)
    history = page[page.index('class="history"') :]
    assert clerk_user.display_name in history and reviewer_user.display_name in history
    assert "submitted_by_id" not in history and "<code>state</code>" not in history
    assert "状态：待审核 → 公示中" in history

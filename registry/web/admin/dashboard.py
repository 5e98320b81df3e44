"""The regulator's start page: what needs them now (services.worklists)."""

from __future__ import annotations

from dataclasses import fields

from flask import render_template

from registry import rules, stats
from registry.database import get_session
from registry.services import registers
from registry.services.worklists import worklists
from registry.web.admin.activity import sentences
from registry.web.admin.blueprint import bp
from registry.web.admin.policy import actor, requires


@bp.get("/")
@requires("read")
def dashboard():
    today = rules.today()
    session, who = get_session(), actor()
    lists = worklists(session, who, today)
    # Art. 42 timeliness over the last four quarters: of its own authority; the ministry
    # sees every authority's. /stats has the whole history.
    timeliness, timeliness_totals = stats.timeliness(
        session,
        stats.Filters(),
        authority_id=None if who.is_ministry else who.authority_id,
        since=stats.quarter_start(today, back=3),
    )
    return render_template(
        "admin/dashboard.html",
        **{f.name: getattr(lists, f.name) for f in fields(lists)}
        | {"activity": sentences(lists.activity)},
        today=today,
        deadline=rules.listing_deadline,
        timeliness=timeliness,
        timeliness_totals=timeliness_totals,
        waiting=registers.counts_by_state(session, "listing", who, registers.Filters())[
            "submitted"
        ],
    )

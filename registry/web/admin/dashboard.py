"""The regulator's start page: what needs them now (services.worklists)."""

from __future__ import annotations

from dataclasses import fields

from flask import render_template

from registry import rules
from registry.database import get_session
from registry.services.worklists import worklists
from registry.web.admin.blueprint import bp
from registry.web.admin.policy import actor, requires


@bp.get("/")
@requires("read")
def dashboard():
    today = rules.today()
    lists = worklists(get_session(), actor(), today)
    return render_template(
        "admin/dashboard.html",
        **{f.name: getattr(lists, f.name) for f in fields(lists)},
        today=today,
        deadline=rules.listing_deadline,
    )

"""Exposure and removal notices (曝光公告 / 移出公告): draft, attach listings, workflow."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from wtforms import SelectChoice

from registry import visibility
from registry.database import get_session
from registry.markdown import render_markdown
from registry.models import Listing, Notice
from registry.services import notices as service
from registry.web.admin.blueprint import bp
from registry.web.admin.common import (
    LIST_LABELS,
    STATE_LABELS,
    register_transitions,
    transition_verbs,
)
from registry.web.admin.forms import NoticeForm
from registry.web.admin.pages import edit_form, record_form, record_page
from registry.web.admin.policy import actor, load, requires


def _notice_form(**kwargs) -> NoticeForm:
    """Listings that may be named: the actor's authority's, once published or ended."""
    form = NoticeForm(**kwargs)
    items = get_session().scalars(
        select(Listing)
        .options(joinedload(Listing.enterprise))
        .where(
            Listing.authority_id == actor().authority_id,
            visibility.listing_named_in_notice(),
        )
        .order_by(Listing.id.desc())
        .limit(500)
    )
    form.listings.choices = [
        SelectChoice(
            item.id,
            f"{item.enterprise.name} · {LIST_LABELS[item.list_code]} · {STATE_LABELS[item.state]}",
        )
        for item in items
    ]
    return form


def _chosen(form: NoticeForm) -> list[Listing]:
    db = get_session()
    return [db.get(Listing, listing_id) for listing_id in form.listings.data or []]


def _edits(form: NoticeForm) -> dict[str, Any]:
    """The title, text and listings the form gives: all that an edit may change (the slug
    and the kind stay); a new notice takes its slug and kind besides."""
    return {
        "title": form.title.data,
        "body_md": form.body_md.data or "",
        "listings": _chosen(form),
    }


@bp.route("/notices/new", methods=["GET", "POST"])
@requires("create")
def notice_new():
    form = _notice_form()
    return record_form(
        "notice",
        form,
        lambda db: service.create_notice(
            db, actor(), slug=form.slug.data, kind=form.kind.data, **_edits(form)
        ),
        rule_errors=True,
        done=_("已新建公告（草稿）。"),
    )


@bp.get("/notices/<int:notice_id>")
@requires("read")
def notice(notice_id: int):
    record = load(Notice, notice_id)
    return record_page("notice", record, body=render_markdown(record.body_md))


@bp.route("/notices/<int:notice_id>/edit", methods=["GET", "POST"])
@requires("edit")
def notice_edit(notice_id: int):
    record = load(Notice, notice_id, "edit")
    form = _notice_form(obj=record if request.method == "GET" else None)
    if request.method == "GET":
        form.listings.data = [item.id for item in record.listings]
    return edit_form("notice", form, record, service.update_notice, _edits, rule_errors=True)


register_transitions(
    "notice",
    Notice,
    transition_verbs(service.transition_notice, ("submit", "return", "publish")),
    "/notices",
    "admin.notice",
)

"""Drafting a quarter's exposure or removal notice from the data (services.notice_drafts):
pick the kind, quarter, list and authority; the draft opens for the normal review."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import IntegerField, SelectChoice, SelectField
from wtforms.validators import DataRequired, NumberRange

from registry import rules
from registry.database import get_session
from registry.models import Authority
from registry.services import notice_drafts
from registry.web.admin.blueprint import bp
from registry.web.admin.common import LIST_LABELS, form_page
from registry.web.admin.forms import NOTICE_KIND_LABELS
from registry.web.admin.policy import actor, requires


class DraftNoticeForm(FlaskForm):
    kind = SelectField(
        _l("公告类型"),
        choices=[SelectChoice(kind, label) for kind, label in NOTICE_KIND_LABELS.items()],
    )
    year = IntegerField(_l("年份"), validators=[DataRequired(), NumberRange(2000, 2100)])
    quarter = SelectField(
        _l("季度"), coerce=int, choices=[SelectChoice(q, str(q)) for q in (1, 2, 3, 4)]
    )
    list_code = SelectField(
        _l("名单"), choices=[SelectChoice(code, label) for code, label in LIST_LABELS.items()]
    )
    authority = SelectField(_l("列入单位"), coerce=int, choices=[])


def _draft_form() -> DraftNoticeForm:
    """Authorities offered: the user's own; every one for the ministry."""
    who = actor()
    form = DraftNoticeForm()
    authorities = get_session().scalars(select(Authority).order_by(Authority.code)).all()
    form.authority.choices = [
        SelectChoice(a.id, a.name) for a in authorities if rules.may_read(who, a.id)
    ]
    if not form.is_submitted():
        today = rules.today()
        form.year.data = today.year
        form.quarter.data = (today.month - 1) // 3 + 1
        form.authority.data = who.authority_id
    return form


@bp.route("/notices/draft", methods=["GET", "POST"])
@requires("create")
def notice_draft() -> Any:
    form = _draft_form()
    return form_page(
        form,
        lambda db: notice_drafts.draft_notice(
            db,
            actor(),
            kind=form.kind.data,
            authority=db.get_one(Authority, form.authority.data),
            list_code=form.list_code.data,
            year=form.year.data,
            quarter=form.quarter.data,
        ),
        rule_errors=True,
        done=_("已起草公告（草稿），请核对后提交审核。"),
        saved_url=lambda notice: url_for("admin.notice", notice_id=notice.id),
        template="admin/notice_draft.html",
    )

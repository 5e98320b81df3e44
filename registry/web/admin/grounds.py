"""The catalogue of listing grounds (列入事由目录): terms and removal rules are data an admin
changes here (with an Event), not constants in code. The catalogue is national, so only
the ministry's admins change it."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from registry.database import get_session
from registry.models import Ground
from registry.services import reference
from registry.web.admin.blueprint import bp
from registry.web.admin.common import catalogue_pages
from registry.web.admin.forms import GroundForm
from registry.web.admin.policy import requires

FIELDS = ("title", "legal_basis", "term_kind", "term_months", "removal_rule", "removal_note")


@bp.get("/grounds")
@requires("read")
def grounds():
    items = get_session().scalars(select(Ground).order_by(Ground.position, Ground.code)).all()
    return render_template("admin/grounds.html", items=items)


def _form(ground: Ground | None) -> GroundForm:
    form = GroundForm(obj=ground if request.method == "GET" else None)
    if ground is not None:  # code and list are fixed once a ground exists
        del form.code
        del form.list_code
    return form


def _values(form: GroundForm, ground: Ground | None) -> dict[str, Any]:
    values = {name: getattr(form, name).data for name in FIELDS}
    values["title"] = (values["title"] or "").strip()
    values["legal_basis"] = values["legal_basis"] or ""
    values["removal_note"] = values["removal_note"] or ""
    values["active"] = bool(form.active.data)
    if ground is None:
        values.update(code=form.code.data or "", list_code=form.list_code.data)
    return values


catalogue_pages(
    "ground",
    Ground,
    _form,
    _values,
    reference.save_ground,
    done=lambda saved: _("已保存列入事由 %(code)s。", code=saved.code),
    ministry_only=_l("列入事由目录由工业和信息化部维护。"),
)

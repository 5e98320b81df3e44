"""Operators (经营者): list, create, edit, licences, former names."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import or_, select
from wtforms import SelectChoice

from registry import rules, text
from registry.database import get_session
from registry.models import Authority, Enterprise, Listing, Sanction
from registry.services import enterprises as service
from registry.web.admin.blueprint import bp
from registry.web.admin.common import form_page, history, save_form
from registry.web.admin.forms import (
    EnterpriseForm,
    FormerNameForm,
    LicenceForm,
)
from registry.web.admin.pages import edit_form, record_form
from registry.web.admin.policy import actor, load, requires

PER_PAGE = 50


def _province_choices() -> list[tuple[str, str]]:
    authorities = get_session().scalars(
        select(Authority).where(Authority.level == "province").order_by(Authority.code)
    )
    return [SelectChoice("", _("（未填）"))] + [
        SelectChoice(a.province_code, a.name) for a in authorities if a.province_code
    ]


def _enterprise_form(**kwargs) -> EnterpriseForm:
    form = EnterpriseForm(**kwargs)
    form.province_code.choices = _province_choices()
    return form


@bp.get("/enterprises")
@requires("read")
def enterprises():
    who = actor()
    query = select(Enterprise).order_by(Enterprise.id.desc())
    q = (request.args.get("q") or "").strip()[:100]
    if not q and not who.is_ministry:
        # By default a bureau sees the firms it registered; a search finds any firm.
        query = query.where(Enterprise.authority_id == who.authority_id)
    if q:
        like = f"%{q}%"
        query = query.where(
            or_(Enterprise.name.like(like), Enterprise.uscc == text.canonical_uscc(q))
        )
    items = get_session().scalars(query.limit(PER_PAGE)).all()
    return render_template("admin/enterprises.html", items=items, q=q)


def _values(form: EnterpriseForm) -> dict:
    return {
        "name": form.name.data,
        "uscc": form.uscc.data or None,
        "province_code": form.province_code.data or None,
        "kind": form.kind.data,
        "address": form.address.data or "",
    }


def _to_enterprise(enterprise: Enterprise) -> str:
    return url_for("admin.enterprise", enterprise_id=enterprise.id)


@bp.route("/enterprises/new", methods=["GET", "POST"])
@requires("create")
def enterprise_new():
    form = _enterprise_form()
    return record_form(
        "enterprise",
        form,
        lambda db: service.create_enterprise(db, actor(), **_values(form)),
        done=_("已登记经营者。"),
    )


@bp.get("/enterprises/<int:enterprise_id>")
@requires("read")
def enterprise(enterprise_id: int):
    record = load(Enterprise, enterprise_id, shared=True)
    who = actor()
    db = get_session()
    sanctions_q = select(Sanction).where(Sanction.enterprise_id == record.id)
    listings_q = select(Listing).where(Listing.enterprise_id == record.id)
    if not who.is_ministry:
        sanctions_q = sanctions_q.where(Sanction.authority_id == who.authority_id)
        listings_q = listings_q.where(Listing.authority_id == who.authority_id)
    events = history("enterprise", [record.id]) + history(
        "licence", [licence.id for licence in record.licences]
    )
    events.sort(key=lambda event: event.seq)
    return render_template(
        "admin/enterprise.html",
        enterprise=record,
        can_edit=rules.may(who, "edit", record.authority_id),
        sanctions=db.scalars(sanctions_q.order_by(Sanction.id)).all(),
        listings=db.scalars(listings_q.order_by(Listing.id)).all(),
        licence_form=LicenceForm(formdata=None),
        former_form=FormerNameForm(formdata=None),
        events=events,
    )


@bp.route("/enterprises/<int:enterprise_id>/edit", methods=["GET", "POST"])
@requires("edit")
def enterprise_edit(enterprise_id: int):
    record = load(Enterprise, enterprise_id, "edit", shared=True)
    form = _enterprise_form(obj=record if request.method == "GET" else None)
    if request.method == "GET":
        form.province_code.data = record.province_code or ""
    return edit_form("enterprise", form, record, service.update_enterprise, _values)


@bp.post("/enterprises/<int:enterprise_id>/licences")
@requires("edit")
def licence_add(enterprise_id: int):
    record = load(Enterprise, enterprise_id, "edit", shared=True)
    form = LicenceForm()
    return form_page(
        form,
        lambda db: service.add_licence(
            db,
            actor(),
            record,
            number=form.number.data,
            services=form.services.data or "",
            status=form.status.data,
            issued_on=form.issued_on.data,
            expires_on=form.expires_on.data,
        ),
        done=_("已添加许可证。"),
        saved_url=lambda _added: _to_enterprise(record),
        template="admin/licence_form.html",
        enterprise=record,
    )


@bp.post("/enterprises/<int:enterprise_id>/former-names")
@requires("edit")
def former_name_add(enterprise_id: int):
    record = load(Enterprise, enterprise_id, "edit", shared=True)
    form = FormerNameForm()
    status = 400
    if form.validate_on_submit():
        status, added = save_form(
            form,
            lambda db: service.add_former_name(
                db, actor(), record, form.former_name.data, used_until=form.used_until.data
            ),
        )
        if added is not None:
            flash(_("已添加曾用名。"), "success")
            return redirect(_to_enterprise(record))
        if status == 200:  # nothing was added: the name is already known
            status = 400
            form.former_name.errors = [_("该名称已登记为现名称或曾用名。")]
    return render_template("admin/former_name_form.html", form=form, enterprise=record), status

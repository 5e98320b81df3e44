"""List entries (名单记录): create, edit, workflow (submit, publish, return, remove, annul)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from wtforms import SelectChoice

from registry import rules
from registry.database import get_session
from registry.errors import ValidationError
from registry.models import Enterprise, Ground, Listing, Petition, Sanction
from registry.services import listings as service
from registry.web.admin import bp
from registry.web.admin.common import history, register_transitions, save_form
from registry.web.admin.forms import ListingForm, WorkflowForm, apply_errors
from registry.web.admin.policy import actor, load, requires
from registry.web.messages import error_message


def _listing_form(enterprise: Enterprise, **kwargs) -> ListingForm:
    """Grounds come from the catalogue (active ones); decisions from this firm, own authority."""
    db = get_session()
    form = ListingForm(**kwargs)
    grounds = db.scalars(
        select(Ground).where(Ground.active.is_(True)).order_by(Ground.position, Ground.code)
    ).all()
    form.ground.choices = [SelectChoice(g.id, f"{g.code} {g.title}") for g in grounds]
    sanctions = db.scalars(
        select(Sanction)
        .where(
            Sanction.enterprise_id == enterprise.id,
            Sanction.authority_id == actor().authority_id,
            Sanction.state != "annulled",
        )
        .order_by(Sanction.id)
    ).all()
    form.sanction.choices = [SelectChoice(0, _("（无）"))] + [
        SelectChoice(s.id, f"{s.decision_no}（{s.decided_on.isoformat()}）") for s in sanctions
    ]
    return form


def _values(form: ListingForm) -> dict:
    db = get_session()
    return {
        "ground": db.get(Ground, form.ground.data),
        "decided_on": form.decided_on.data,
        "sanction": db.get(Sanction, form.sanction.data) if form.sanction.data else None,
        "facts": form.facts.data or "",
        "source_expires_on": form.source_expires_on.data,
    }


@bp.route("/enterprises/<int:enterprise_id>/listings/new", methods=["GET", "POST"])
@requires("create")
def listing_new(enterprise_id: int):
    enterprise = load(Enterprise, enterprise_id, shared=True)
    form = _listing_form(enterprise)
    if form.validate_on_submit():
        db = get_session()
        try:
            listing = service.create_listing(db, actor(), enterprise, **_values(form))
        except ValidationError as exc:
            apply_errors(form, exc.errors)
        except rules.RuleViolation as exc:
            form.form_errors.append(error_message(exc))
        else:
            db.commit()
            flash(_("已新建名单记录（草稿）。"), "success")
            return redirect(url_for("admin.listing", listing_id=listing.id))
    status = 400 if request.method == "POST" else 200
    return render_template(
        "admin/listing_form.html", form=form, enterprise=enterprise, listing=None
    ), status


@bp.get("/listings/<int:listing_id>")
@requires("read")
def listing(listing_id: int):
    record = load(Listing, listing_id)
    today = rules.today()
    return render_template(
        "admin/listing.html",
        listing=record,
        form=WorkflowForm(formdata=None, version_id=record.version_id),
        events=history("listing", [record.id]),
        deadline=rules.listing_deadline(record.decided_on),
        overdue=rules.is_overdue(record.decided_on, record.listed_on, today),
        effective_state=rules.effective_state(record, today),
        petitions=get_session()
        .scalars(select(Petition).where(Petition.listing_id == record.id).order_by(Petition.id))
        .all(),
    )


@bp.route("/listings/<int:listing_id>/edit", methods=["GET", "POST"])
@requires("edit")
def listing_edit(listing_id: int):
    record = load(Listing, listing_id, "edit")
    form = _listing_form(record.enterprise, obj=record if request.method == "GET" else None)
    status = 200
    if request.method == "GET":
        form.ground.data = record.ground_id
        form.sanction.data = record.sanction_id or 0
    else:
        status = 400
        if form.validate_on_submit():
            status, _saved = save_form(
                form,
                lambda db: service.update_listing(
                    db, actor(), record, expected_version=form.version_id.data, **_values(form)
                ),
                rule_errors=True,
            )
            if status == 200:
                flash(_("已保存。"), "success")
                return redirect(url_for("admin.listing", listing_id=record.id))
    return render_template(
        "admin/listing_form.html", form=form, enterprise=record.enterprise, listing=record
    ), status


def _kw(form: WorkflowForm) -> dict:
    return {"expected_version": form.version_id.data}


register_transitions(
    "listing",
    Listing,
    {
        "submit": lambda db, who, rec, form: service.submit_listing(db, who, rec, **_kw(form)),
        "return": lambda db, who, rec, form: service.return_listing(
            db, who, rec, form.reason.data or "", **_kw(form)
        ),
        "publish": lambda db, who, rec, form: service.publish_listing(db, who, rec, **_kw(form)),
        "remove": lambda db, who, rec, form: service.remove_listing(
            db,
            who,
            rec,
            form.reason.data or "",
            report_filed_on=form.report_filed_on.data,
            filing_confirmed=bool(form.filing_confirmed.data),
            **_kw(form),
        ),
        "annul": lambda db, who, rec, form: service.annul_listing(
            db, who, rec, form.reason.data or "", **_kw(form)
        ),
    },
    "/listings",
    "admin.listing",
)

"""Bulk review from the back office: publish or return every submitted listing of a view
of /admin/listings (its query string: filters such as an import batch, a ground, a
quarter) in one action and one transaction (services.bulk_review)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from wtforms import IntegerField, TextAreaField, widgets
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from registry.database import get_session
from registry.models import Enterprise, ImportBatch, Listing
from registry.services import bulk_review, registers
from registry.web.admin.blueprint import bp
from registry.web.admin.common import save_action
from registry.web.admin.policy import actor, load, requires
from registry.web.admin.registers import parse_filters


class BulkForm(FlaskForm):
    # How many records the reviewer saw: if the set changed since, nothing is done.
    expected = IntegerField(
        widget=widgets.HiddenInput(), validators=[DataRequired(), NumberRange(min=1)]
    )
    reason = TextAreaField(_l("退回理由"), validators=[Optional(), Length(max=5000)])


def _selected(filters: registers.Filters) -> list[Listing]:
    """The submitted listings of the view, as this user sees it (their authority's)."""
    filters = replace(filters, state="submitted", page=1)
    ids = select(registers.select_ids("listing", actor(), filters).subquery().c.id)
    return list(
        get_session()
        .scalars(
            select(Listing)
            .options(
                joinedload(Listing.enterprise).selectinload(Enterprise.licences),
                joinedload(Listing.ground),
                joinedload(Listing.authority),
                joinedload(Listing.sanction),
            )
            .where(Listing.id.in_(ids))
            .order_by(Listing.id)
        )
        .unique()
    )


def _bulk(action: str, filters: registers.Filters) -> int:
    """Run the bulk action on the view and commit; anything else ends the request."""
    form = BulkForm()
    if not form.validate_on_submit():
        abort(400, _("表单无效，请返回重试。"))
    listings = _selected(filters)
    if not listings:
        abort(400, _("没有选中任何待审核的记录"))
    if len(listings) != form.expected.data:
        abort(409, _("所选记录已有变化（现为%(n)s条），请重新查看后再操作。", n=len(listings)))
    count = save_action(
        form,
        lambda db: bulk_review.bulk_review(
            db, actor(), listings, action, reason=form.reason.data or ""
        ),
    )
    if action == "publish":
        flash(_("已公示%(n)s条名单记录。", n=count), "success")
    else:
        flash(_("已退回%(n)s条名单记录。", n=count), "success")
    return count


def _view_bulk(action: str) -> Any:
    _bulk(action, parse_filters("listing"))
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k not in ("state", "page")}
    return redirect(url_for("admin.listings", **args))


def _batch_bulk(batch_id: int, action: str) -> Any:
    batch = load(ImportBatch, batch_id, action)
    _bulk(action, registers.Filters(batch=batch.id))
    return redirect(url_for("admin.import_batch", batch_id=batch.id))


@bp.post("/imports/<int:batch_id>/publish")
@requires("publish")
def import_batch_publish(batch_id: int) -> Any:
    return _batch_bulk(batch_id, "publish")


@bp.post("/imports/<int:batch_id>/return")
@requires("return")
def import_batch_return(batch_id: int) -> Any:
    return _batch_bulk(batch_id, "return")


@bp.post("/listings/bulk-publish")
@requires("publish")
def listings_bulk_publish() -> Any:
    return _view_bulk("publish")


@bp.post("/listings/bulk-return")
@requires("return")
def listings_bulk_return() -> Any:
    return _view_bulk("return")

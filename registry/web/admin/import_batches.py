"""Import batches (导入批次): the list of imports and one batch's record, its row report
and the listings it made (with the bulk review of those still waiting)."""

from __future__ import annotations

from typing import Any

from flask import render_template, request

from registry.database import get_session
from registry.models import ImportBatch, User
from registry.services import bulk_review, registers
from registry.web.admin.blueprint import bp
from registry.web.admin.bulk import BulkForm
from registry.web.admin.policy import actor, load, requires
from registry.web.admin.registers import parse_page


@bp.get("/imports")
@requires("read")
def import_batches() -> Any:
    items, pages = registers.import_batches(get_session(), actor(), parse_page())
    return render_template("admin/import_batches.html", items=items, pages=pages, page=parse_page())


@bp.get("/imports/<int:batch_id>")
@requires("read")
def import_batch(batch_id: int) -> Any:
    batch = load(ImportBatch, batch_id)
    db, who = get_session(), actor()
    filters = registers.Filters(batch=batch.id)
    by_state = registers.counts_by_state(db, "listing", who, filters)
    importer = db.get(User, batch.created_by_id) if batch.created_by_id else None
    publisher = db.get(User, batch.published_by_id) if batch.published_by_id else None
    waiting = by_state.get("submitted", 0)
    first = db.scalars(registers.select_records("listing", who, filters).limit(20)).all()
    return render_template(
        "admin/import_batch.html",
        batch=batch,
        importer=importer,
        publisher=publisher,
        by_state=by_state,
        first=first,
        waiting=waiting,
        form=BulkForm(formdata=None, expected=waiting),
        bulk_seconds=bulk_review.expected_seconds,
        may_review=who.user_id != batch.created_by_id,
        show_all=request.args.get("problems") == "all",
    )

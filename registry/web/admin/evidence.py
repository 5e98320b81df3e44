"""Evidence files: upload to a sanction or listing, download, retract, mark public.

The files a killed upload left behind are swept by `registry sweep` (services.evidence)."""

from __future__ import annotations

import logging

from flask import abort, current_app, flash, redirect, url_for
from flask_babel import gettext as _

from registry.models import Evidence, Listing, Sanction
from registry.services import evidence as service
from registry.web.admin.blueprint import bp
from registry.web.admin.common import save_action, send_upload
from registry.web.admin.forms import EvidenceActionForm, EvidenceForm
from registry.web.admin.policy import actor, load, requires
from registry.web.messages import error_message

log = logging.getLogger(__name__)


def _owner_url(record: Evidence | Sanction | Listing) -> str:
    if isinstance(record, Sanction):
        return url_for("admin.sanction", sanction_id=record.id)
    if isinstance(record, Listing):
        return url_for("admin.listing", listing_id=record.id)
    if record.sanction_id:
        return url_for("admin.sanction", sanction_id=record.sanction_id)
    return url_for("admin.listing", listing_id=record.listing_id)


def _upload(owner: Sanction | Listing):
    form = EvidenceForm()
    if not form.validate_on_submit():
        abort(400, _("请选择要上传的文件。"))
    max_bytes = current_app.config["MAX_UPLOAD_BYTES"]
    data = form.file.data.stream.read(max_bytes + 1)
    evidence_dir = current_app.config["EVIDENCE_DIR"]
    # File first, then the row's commit, both under the shared lock: a crash in between
    # leaves an orphan file (swept at the next start), never a row without its file.
    with service.writing(evidence_dir) as writing:
        try:
            save_action(
                form,
                lambda db: service.add_evidence(
                    db,
                    actor(),
                    owner,
                    data=data,
                    filename=form.file.data.filename or "",
                    description=form.description.data or "",
                    evidence_dir=evidence_dir,
                    max_bytes=max_bytes,
                    writing=writing,
                ),
            )
        except service.UploadTooLarge as exc:
            abort(413, error_message(exc))
    flash(_("已上传证据材料。"), "success")
    return redirect(_owner_url(owner))


@bp.post("/sanctions/<int:sanction_id>/evidence")
@requires("upload")
def evidence_upload_sanction(sanction_id: int):
    return _upload(load(Sanction, sanction_id, "upload"))


@bp.post("/listings/<int:listing_id>/evidence")
@requires("upload")
def evidence_upload_listing(listing_id: int):
    return _upload(load(Listing, listing_id, "upload"))


@bp.get("/evidence/<int:evidence_id>")
@requires("read")
def evidence_download(evidence_id: int):
    record = load(Evidence, evidence_id)
    path = service.file_for(actor(), record, current_app.config["EVIDENCE_DIR"])
    return send_upload(record, path)


def _evidence_action(evidence_id: int, action: str):
    record = load(Evidence, evidence_id, action)
    form = EvidenceActionForm()
    if not form.validate_on_submit():
        abort(400, _("表单无效，请返回重试。"))
    # Rule violations reach the error pages (4xx); a stale version is a 409.
    if action == "retract":
        save_action(
            form,
            lambda db: service.retract_evidence(
                db,
                actor(),
                record,
                reason=form.reason.data or "",
                expected_version=form.version_id.data,
            ),
        )
    else:
        save_action(
            form,
            lambda db: service.set_public(
                db, actor(), record, form.public.data == "1", expected_version=form.version_id.data
            ),
        )
    flash(_("已保存。"), "success")
    return redirect(_owner_url(record))


@bp.post("/evidence/<int:evidence_id>/retract")
@requires("retract")
def evidence_retract(evidence_id: int):
    return _evidence_action(evidence_id, "retract")


@bp.post("/evidence/<int:evidence_id>/public")
@requires("mark_public")
def evidence_public(evidence_id: int):
    return _evidence_action(evidence_id, "mark_public")

"""Batch import from the back office: the same import as `registry import`, in three steps.

1. Upload (GET/POST /admin/import): the file is parsed and checked (registry.imports); a file
   that cannot be read, or lacks a required column, gets the form again with a 400 and is not
   kept. Otherwise its bytes are staged in the database under their SHA-256 (never the
   client's name; any worker of any host can take the confirmation) and the validation
   report is shown.
2. The report: counts and the problems as a table; the confirm form carries the hash and
   the options, never the file.
3. Confirm (POST /admin/import/confirm): the stored bytes are checked again (the database
   may have changed since), applied in one transaction and committed once; the search index
   follows the new events (registry.web.indexing). Confirming twice is harmless: the second
   time every row is unchanged.

Tenancy: every row's listing authority must be one the user may import for
(rules.may(actor, "import", authority)): their own, or any for the ministry. A row naming
another authority is an error of that row, found before the database is asked about it.
"Publish as me" makes the reviewer the publisher (four eyes: the import itself is the
submission by a system actor of the listing authority); a clerk cannot publish.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import BooleanField, HiddenField, IntegerField, SelectChoice, SelectField, widgets
from wtforms.validators import DataRequired, Length, Regexp

from registry import rules
from registry.database import get_session
from registry.db import refresh_statistics
from registry.imports import (
    ImportApplyError,
    ImportFileError,
    ImportProblem,
    ParsedFile,
    Plan,
    apply_plan,
    read_bytes,
    validate,
)
from registry.imports.validate import Catalogue
from registry.models import Authority, ImportBatch
from registry.services import import_batches, staging
from registry.web.admin.blueprint import bp
from registry.web.admin.policy import actor, deny, requires
from registry.web.messages import error_message, localize

# Problems shown in the report table; the rest are counted in an "and N more" line.
MAX_SHOWN = 200
SHA256_PATTERN = r"^[0-9a-f]{64}$"


# --- forms ------------------------------------------------------------------------------


class ImportForm(FlaskForm):
    file = FileField(_l("导入文件（CSV 或 XLSX）"), validators=[FileRequired()])
    authority = SelectField(_l("列入单位"), coerce=int, choices=[])
    publish = BooleanField(_l("由我审核并公示（不勾选则提交待审核）"))


class ConfirmForm(FlaskForm):
    sha256 = HiddenField(validators=[DataRequired(), Regexp(SHA256_PATTERN)])
    authority = IntegerField(widget=widgets.HiddenInput(), validators=[DataRequired()])
    publish = HiddenField(validators=[Regexp(r"^[01]?$")])
    filename = HiddenField(validators=[Length(max=255)])
    skip_bad = BooleanField(_l("跳过有错误的行，只导入其余各行"))


# --- checking ---------------------------------------------------------------------------


def _authorities() -> list[Authority]:
    """The authorities this user may import for: their own, or every one for the ministry."""
    who = actor()
    items = get_session().scalars(select(Authority).order_by(Authority.id)).all()
    return [a for a in items if rules.may(who, "import", a.id)]


def _publisher(publish: bool):
    if not publish:
        return None
    who = actor()
    if "publish" not in rules.ROLE_ACTIONS.get(who.role, frozenset()):
        deny(403, "may not publish an import")
    return who


@dataclass
class Report:
    parsed: ParsedFile
    plan: Plan

    @property
    def header_errors(self) -> list[ImportProblem]:
        return [p for p in self.plan.errors if p.row == 1]

    @property
    def bad_rows(self) -> int:
        return len(self.plan.bad_rows - {1})

    @property
    def shown(self) -> list[ImportProblem]:
        """The problems of the table, each reason in the request's language."""
        errors = self.plan.errors[:MAX_SHOWN]
        return [
            replace(p, message=localize(p.message))
            for p in errors + self.plan.warnings[: MAX_SHOWN - len(errors)]
        ]

    @property
    def hidden(self) -> int:
        return self.plan.problem_count - len(self.shown)

    @property
    def can_apply(self) -> bool:
        return not self.plan.errors

    @property
    def can_skip_bad(self) -> bool:
        return bool(self.plan.errors) and not self.header_errors and bool(self.plan.rows)


def check(data: bytes, filename: str, authority: Authority, publish: bool) -> Report:
    """Parse and validate, as the user: rows naming an authority they may not import for are
    errors and are not looked up. Raises ImportFileError for a file that cannot be read."""
    parsed = read_bytes(data, filename)
    who = actor()
    session = get_session()
    catalogue = Catalogue(session)
    column = parsed.column("authority")
    refused: list[ImportProblem] = []
    kept = []
    for row in parsed.rows:
        value = row.cells.get("authority")
        named = catalogue.authority(str(value)) if value else None
        if named is not None and not rules.may(who, "import", named.id):
            refused.append(
                ImportProblem(
                    row.number,
                    column,
                    _("无权导入%(authority)s的名单记录", authority=named.name),
                )
            )
        else:
            kept.append(row)
    total = len(parsed.rows)
    checked = ParsedFile(parsed.kind, parsed.encoding, parsed.headers, kept, parsed.ignored_headers)
    plan = validate(session, checked, default_authority=authority, publisher=_publisher(publish))
    if refused and not any(p.row == 1 for p in plan.errors):
        plan.problems.extend(refused)
        plan.problems.sort(key=lambda p: (p.row, p.severity != "error"))
    plan.total = total
    return Report(parsed, plan)


# --- views ------------------------------------------------------------------------------


def _render_report(report: Report, form: ConfirmForm, status: int = 200):
    return render_template("admin/import_report.html", report=report, form=form), status


@bp.route("/import", methods=["GET", "POST"])
@requires("import")
def import_upload():
    authorities = _authorities()
    form = ImportForm()
    form.authority.choices = [SelectChoice(a.id, f"{a.code} {a.name}") for a in authorities]
    if request.method == "GET":
        form.authority.data = actor().authority_id
        form.publish.data = False
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            authority = next(a for a in authorities if a.id == form.authority.data)
            data = form.file.data.stream.read()
            try:
                report = check(data, form.file.data.filename or "", authority, form.publish.data)
            except ImportFileError as exc:
                form.file.errors.append(error_message(exc))
            except UnicodeError:  # a BOM that the bytes after it belie
                form.file.errors.append(_("无法识别文件编码，请另存为“CSV UTF-8”或 .xlsx 后重试。"))
            else:
                if report.header_errors:
                    form.file.errors.extend(localize(p.message) for p in report.header_errors)
                else:
                    db = get_session()
                    digest = staging.stage(db, data, user_id=actor().user_id)
                    db.commit()
                    confirm = ConfirmForm(
                        formdata=None,
                        sha256=digest,
                        authority=authority.id,
                        publish="1" if form.publish.data else "",
                        filename=(form.file.data.filename or "")[:255],
                    )
                    return _render_report(report, confirm)
    return render_template(
        "admin/import.html", form=form, may_publish="publish" in rules.ROLE_ACTIONS[actor().role]
    ), status


@bp.post("/import/confirm")
@requires("import")
def import_confirm():
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400, _("表单无效，请重新上传文件。"))
    authority = next((a for a in _authorities() if a.id == form.authority.data), None)
    if authority is None:
        deny(403, f"may not import for authority {form.authority.data}")
    data = staging.staged(get_session(), form.sha256.data)
    if data is None:
        abort(404, _("找不到上传的文件（可能已过期），请重新上传。"))
    try:
        report = check(data, "", authority, form.publish.data == "1")
    except ImportFileError as exc:  # only if the stored file changed
        abort(400, error_message(exc))
    except UnicodeError as exc:
        abort(400, str(exc))
    plan = report.plan
    if plan.errors and (not form.skip_bad.data or not report.can_skip_bad):
        form.form_errors.append(_("文件有%(n)d处错误，未写入任何记录。", n=len(plan.errors)))
        return _render_report(report, form, 400)
    db = get_session()
    publisher = _publisher(form.publish.data == "1")
    # A confirmation with nothing new to write (a double click) records no batch.
    batch = _open_batch(form, authority, len(data), plan.total, publisher) if plan.rows else None
    try:
        result = apply_plan(
            db, plan, publisher=publisher, batch_id=batch.id if batch is not None else None
        )
    except ImportApplyError as exc:
        db.rollback()
        form.form_errors.append(_("导入失败，未写入任何记录：%(error)s", error=error_message(exc)))
        return _render_report(report, form, 409)
    if batch is not None:
        counts = result.as_dict() | {"bad": report.bad_rows}
        import_batches.close_batch(
            db,
            actor(),
            batch,
            counts,
            import_batches.report_rows(plan.problems),
            plan.problem_count,
        )
    db.commit()
    refresh_statistics(db)  # thousands of new rows, maybe: the planner should know
    flash(
        _(
            "导入完成：新增名单记录%(listings)d条（其中已公示%(published)d条），"
            "新增经营者%(enterprises)d家，已存在未变化%(unchanged)d行，跳过有错误的%(bad)d行。",
            listings=result.listings,
            published=result.published,
            enterprises=result.enterprises,
            unchanged=result.unchanged,
            bad=report.bad_rows,
        ),
        "success",
    )
    if batch is None:
        return redirect(url_for("admin.import_upload"))
    return redirect(url_for("admin.import_batch", batch_id=batch.id))


def _open_batch(
    form: ConfirmForm, authority: Authority, size: int, total: int, publisher: Any
) -> ImportBatch:
    return import_batches.open_batch(
        get_session(),
        actor(),
        authority,
        sha256=form.sha256.data,
        size=size,
        filename=form.filename.data or "",
        source="web",
        total_rows=total,
        publisher=publisher,
    )

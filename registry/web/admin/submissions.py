"""The queue of public submissions (异议、信用修复、举报线索) of the user's authority.

Every regulator reads the queue of their authority (the ministry: every queue, without the
submitters' personal data); clerks and reviewers of the handling authority accept or
refuse, assign, keep notes and propose; reviewers decide and confirm (services.casework).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import mail, rules
from registry.database import get_session
from registry.models import Submission, SubmissionFile, User
from registry.services import casework, evidence
from registry.services.submissions import MAIL_REF
from registry.web.admin.blueprint import bp
from registry.web.admin.common import history, save_action, send_upload
from registry.web.admin.forms import SubmissionActionForm
from registry.web.admin.policy import actor, deny, load, requires

KIND_LABELS = {"objection": _l("异议"), "repair": _l("信用修复"), "tip": _l("举报线索")}
SUBMISSION_STATE_LABELS = {
    "received": _l("待受理"),
    "accepted": _l("办理中"),
    "refused": _l("不予受理"),
    "proposed": _l("待复核"),
    "decided": _l("已办结"),
}
MAIL_STATE_LABELS = {"pending": _l("待发送"), "sent": _l("已发送"), "failed": _l("发送失败")}
OPEN_STATES = ("received", "accepted", "proposed")
PAGE_SIZE = 100


def _of_authority(query: Any, who: rules.Actor) -> Any:
    """The user's authority's cases (the ministry: every authority's, with ?all=1)."""
    if not who.is_ministry or request.args.get("all") != "1":
        query = query.where(Submission.authority_id == who.authority_id)
    return query


def _queue_query(who: rules.Actor, state: str, kind: str) -> Any:
    query = _of_authority(select(Submission).order_by(Submission.received_at), who)
    if state == "open":
        query = query.where(Submission.state.in_(OPEN_STATES))
    elif state in SUBMISSION_STATE_LABELS:
        query = query.where(Submission.state == state)
    if kind in KIND_LABELS:
        query = query.where(Submission.kind == kind)
    return query.limit(PAGE_SIZE)


def _mail_failed(who: rules.Actor) -> list[Submission]:
    """The cases whose acknowledgement or decision mail was given up after every retry:
    the submitter has to be reached another way."""
    ids = [int(ref.partition(":")[2]) for ref in mail.failed_refs(get_session(), MAIL_REF)]
    if not ids:
        return []
    query = select(Submission).where(Submission.id.in_(ids)).order_by(Submission.id)
    return list(get_session().scalars(_of_authority(query, who)))


@bp.get("/submissions")
@requires("read")
def submissions():
    state = request.args.get("state", "open")
    kind = request.args.get("kind", "")
    who = actor()
    items = get_session().scalars(_queue_query(who, state, kind)).all()
    return render_template(
        "admin/submissions.html",
        items=items,
        mail_failed=_mail_failed(who),
        state=state,
        kind=kind,
        today=rules.today(),
        overdue=casework.overdue,
        KIND_LABELS=KIND_LABELS,
        SUBMISSION_STATE_LABELS=SUBMISSION_STATE_LABELS,
    )


@bp.get("/submissions/<int:submission_id>")
@requires("read")
def submission(submission_id: int):
    record = load(Submission, submission_id)
    who = actor()
    staff = get_session().scalars(
        select(User)
        .where(
            User.authority_id == record.authority_id,
            User.active.is_(True),
            User.role.in_(("clerk", "reviewer")),
        )
        .order_by(User.username)
    )
    return render_template(
        "admin/submission.html",
        submission=record,
        personal=casework.may_see_personal_data(who, record),
        form=SubmissionActionForm(formdata=None, version_id=record.version_id),
        staff=list(staff),
        events=history("submission", [record.id]),
        overdue=casework.overdue(record, rules.today()),
        mails=mail.mails_about(get_session(), [f"{MAIL_REF}{record.id}"]),
        MAIL_STATE_LABELS=MAIL_STATE_LABELS,
        KIND_LABELS=KIND_LABELS,
        SUBMISSION_STATE_LABELS=SUBMISSION_STATE_LABELS,
    )


@bp.get("/submission-files/<int:file_id>")
@requires("read")
def submission_file(file_id: int):
    """An attachment, for the handling authority only (it is personal data)."""
    stored = get_session().get(SubmissionFile, file_id)
    if stored is None or not casework.may_see_personal_data(actor(), stored.submission):
        deny(404, f"submission file {file_id} not readable")
        abort(404)  # deny() aborts; this tells the type checker
    path = evidence.storage_path(current_app.config["EVIDENCE_DIR"], stored.sha256)
    if not path.is_file():
        abort(404)
    return send_upload(stored, path)


def _staff(form: SubmissionActionForm, record: Submission) -> User | None:
    if not form.user_id.data:
        return None
    user = get_session().get(User, form.user_id.data)
    if user is None:
        abort(400, _("没有这个用户。"))
    return user


def _loaded(f: SubmissionActionForm) -> casework.AsLoaded:
    return {"expected_version": f.version_id.data}


def _decision(f: SubmissionActionForm) -> casework.Decision:
    outcome, reason = f.outcome.data or "", f.reason.data or ""
    return casework.Decision(outcome=outcome, reason=reason, expected_version=f.version_id.data)


Verb = Callable[[Session, rules.Actor, Submission, SubmissionActionForm], Any]
HANDLE, DECIDE = "handle_submission", "decide_submission"
VERBS: dict[str, tuple[str, Verb]] = {
    "accept": (HANDLE, lambda db, who, s, f: casework.accept(db, who, s, **_loaded(f))),
    "refuse": (
        HANDLE,
        lambda db, who, s, f: casework.refuse(db, who, s, f.reason.data or "", **_loaded(f)),
    ),
    "assign": (
        HANDLE,
        lambda db, who, s, f: casework.assign(db, who, s, _staff(f, s), **_loaded(f)),
    ),
    "note": (HANDLE, lambda db, who, s, f: casework.add_note(db, who, s, f.body.data or "")),
    "propose": (
        HANDLE,
        lambda db, who, s, f: casework.propose(
            db, who, s, effect=f.effect.data or "", **_decision(f)
        ),
    ),
    "return_proposal": (
        DECIDE,
        lambda db, who, s, f: casework.return_proposal(
            db, who, s, f.reason.data or "", **_loaded(f)
        ),
    ),
    "confirm": (DECIDE, lambda db, who, s, f: casework.confirm(db, who, s, **_loaded(f))),
    "decide": (DECIDE, lambda db, who, s, f: casework.decide(db, who, s, **_decision(f))),
}


def _register(action: str, permission: str, verb: Verb) -> None:
    @bp.post(f"/submissions/<int:submission_id>/{action}", endpoint=f"submission_{action}")
    @requires(permission)
    def view(submission_id: int) -> Any:
        record = load(Submission, submission_id, permission)
        form = SubmissionActionForm()
        if not form.validate_on_submit():
            abort(400, _("表单无效，请返回重试。"))
        save_action(form, lambda db: verb(db, actor(), record, form), rule_errors=False)
        flash(_("已保存。"), "success")
        return redirect(url_for("admin.submission", submission_id=record.id))


for _action, (_permission, _verb) in VERBS.items():
    _register(_action, _permission, _verb)

"""Helpers shared by the admin views: history, labels, template filters."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar, cast

from flask import Response
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.local import LocalProxy

from registry import rules
from registry.database import get_session
from registry.errors import ConflictError, ValidationError
from registry.models import Event, Ground, Sanction
from registry.services.evidence import EXTENSIONS
from registry.web.admin.blueprint import bp
from registry.web.admin.forms import MEASURE_LABELS, apply_errors
from registry.web.messages import error_message

T = TypeVar("T")

ACTION_LABELS = {
    "create": _l("新建"),
    "update": _l("修改"),
    "submit": _l("提交审核"),
    "return": _l("退回"),
    "publish": _l("公示"),
    "remove": _l("提前移出"),
    "expire": _l("期满移出"),
    "annul": _l("撤销"),
    "add_former_name": _l("添加曾用名"),
    "upload": _l("上传证据"),
    "retract": _l("撤回证据"),
    "mark_public": _l("证据设为公开"),
    "decide": _l("处理"),
    "disable": _l("停用"),
    "receive": _l("收到"),
    "accept": _l("受理"),
    "refuse": _l("不予受理"),
    "assign": _l("分配"),
    "note": _l("添加办理记录"),
    "propose": _l("提出处理意见"),
    "return_proposal": _l("退回处理意见"),
    "confirm": _l("复核通过"),
    "purge": _l("删除个人信息"),
    "import": _l("导入"),
    "seed": _l("初始化"),
}
STATE_LABELS = {
    "draft": _l("草稿"),
    "submitted": _l("待审核"),
    "published": _l("公示中"),
    "removed": _l("已移出"),
    "expired": _l("已期满"),
    "annulled": _l("已撤销"),
    "received": _l("已收到"),
    "upheld": _l("成立"),
    "rejected": _l("不成立"),
    "withdrawn": _l("已撤回"),
}
LIST_LABELS = {"bad": _l("不良名单"), "dishonest": _l("失信名单")}


def history(entity_type: str, ids: Iterable[int]) -> list[Event]:
    """The Events of these records, oldest first."""
    ids = list(ids)
    if not ids:
        return []
    return list(
        get_session().scalars(
            select(Event)
            .where(Event.entity_type == entity_type, Event.entity_id.in_(ids))
            .order_by(Event.seq)
        )
    )


FIELD_LABELS = {
    "state": _l("状态"),
    "decided_on": _l("处理日期"),
    "facts": _l("事实"),
    "ground_id": _l("列入事由"),
    "sanction_id": _l("处罚决定"),
    "list_code": _l("名单"),
    "listed_on": _l("列入日期"),
    "expires_on": _l("到期日"),
    "source_expires_on": _l("原决定截止日期"),
    "submitted_by_id": _l("提交人"),
    "submitted_at": _l("提交时间"),
    "published_by_id": _l("公示人"),
    "published_at": _l("公示时间"),
    "returned_reason": _l("退回理由"),
    "ended_at": _l("结束时间"),
    "ended_by_id": _l("操作人"),
    "end_reason": _l("理由"),
    "title": _l("标题"),
    "body_md": _l("正文"),
    "name": _l("名称"),
    "uscc": _l("统一社会信用代码"),
    "province_code": _l("省份"),
    "address": _l("地址"),
    "decision_no": _l("文号"),
    "measures": _l("处罚措施"),
    "fine_amount": _l("罚款金额"),
    "legal_basis": _l("处罚依据"),
    "outcome": _l("处理结果"),
    "public": _l("公开"),
    "retracted_at": _l("撤回时间"),
}


def _shown(key: str, value: Any, users: dict[int, str]) -> Any:
    """A changed value as a regulator reads it: states and lists by name, people by name."""
    if value is None:
        return None
    if key == "state":
        return STATE_LABELS.get(value, value)
    if key == "list_code":
        return LIST_LABELS.get(value, value)
    if key.endswith("_by_id"):
        return users.get(value, "—")
    if key == "ground_id":
        ground = get_session().get(Ground, value)
        return ground.code if ground is not None else "—"
    if key == "sanction_id":
        sanction = get_session().get(Sanction, value)
        return sanction.decision_no if sanction is not None else "—"
    return value


def changes(event: Event) -> list[tuple[str, Any, Any]]:
    """(field label, before, after) of an update-like Event; empty for a creation. Internal
    columns (ids, versions, timestamps of the row) are left out; people are named."""
    if event.before is None:
        return []
    from registry.web.admin.activity import user_names

    after = event.after or {}
    keys = [k for k in after if k in FIELD_LABELS]
    people = [event.before.get(k) for k in keys if k.endswith("_by_id")]
    users = user_names([*people, *(after[k] for k in keys if k.endswith("_by_id"))])
    return [
        (
            str(FIELD_LABELS[key]),
            _shown(key, event.before.get(key), users),
            _shown(key, after[key], users),
        )
        for key in keys
    ]


def actor_name(event: Event) -> str:
    """The display name of who made the change (the label of a system actor otherwise)."""
    from registry.web.admin.activity import user_names

    if event.actor_id is None:
        return event.actor_label
    return user_names([event.actor_id]).get(event.actor_id, event.actor_label)


@bp.app_template_filter("shanghai")
def shanghai(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(rules.SHANGHAI).strftime("%Y-%m-%d %H:%M")


@bp.record_once
def _admin_labels(state: Any) -> None:
    """The back office's labels and helpers, as template globals: the same for every
    request, so nothing is built per page (a context processor runs for every page
    rendered, the public ones included)."""
    state.app.jinja_env.globals.update(
        ACTION_LABELS=ACTION_LABELS,
        STATE_LABELS=STATE_LABELS,
        LIST_LABELS=LIST_LABELS,
        MEASURE_LABELS=MEASURE_LABELS,
        event_changes=changes,
        actor_name=actor_name,
        # Looked up when a template asks (the back office's), not for every public page.
        role_actions=LocalProxy(_role_actions),
    )


def _role_actions() -> frozenset[str]:
    from flask_login import current_user

    if not current_user or not current_user.is_authenticated:
        return frozenset()
    return rules.ROLE_ACTIONS.get(current_user.actor.role, frozenset())


def register_transitions(
    noun: str, model: type, verbs: dict[str, Any], url: str, endpoint: str
) -> None:
    """One POST route per workflow action, each declaring its own policy:
    /admin/<noun>s/<id>/<action> → verbs[action](session, actor, record, form)."""
    from flask import flash, redirect, url_for
    from flask_babel import gettext as _

    from registry.web.admin.forms import WorkflowForm
    from registry.web.admin.policy import actor, load, requires

    for action, verb in verbs.items():

        def view(record_id: int, action: str = action, verb: Any = verb) -> Any:
            record = load(model, record_id, action)
            form = WorkflowForm()
            if not form.validate_on_submit():
                from flask import abort

                abort(400, _("表单无效，请返回重试。"))
            # Rule violations reach the error pages (4xx); nothing is written.
            save_action(form, lambda db: verb(db, actor(), record, form))
            flash(_("已完成：%(action)s", action=ACTION_LABELS[action]), "success")
            return redirect(url_for(endpoint, **{f"{noun}_id": record.id}))

        view.__name__ = f"{noun}_{action}"
        bp.add_url_rule(
            f"{url}/<int:record_id>/{action}",
            endpoint=f"{noun}_{action}",
            view_func=requires(action)(view),
            methods=["POST"],
        )


def workflow_verbs(
    service: ModuleType,
    noun: str,
    actions: Iterable[str],
    **extra: Callable[[Any], dict[str, Any]],
) -> dict[str, Callable[..., Any]]:
    """The verbs for register_transitions of a record whose service has one function per
    action, `<action>_<noun>(session, actor, record[, reason], expected_version=...)`. The
    reason goes to the actions that need one (rules.ACTIONS_NEEDING_REASON); `extra[action]`
    gives an action's further arguments from the form."""

    def verb(action: str) -> Callable[..., Any]:
        function = getattr(service, f"{action}_{noun}")

        def run(db: Session, who: rules.Actor, record: Any, form: Any) -> Any:
            reason = (form.reason.data or "",) if action in rules.ACTIONS_NEEDING_REASON else ()
            more = extra[action](form) if action in extra else {}
            return function(db, who, record, *reason, expected_version=form.version_id.data, **more)

        return run

    return {action: verb(action) for action in actions}


def transition_verbs(
    transition: Callable[..., Any], actions: Iterable[str]
) -> dict[str, Callable[..., Any]]:
    """The verbs for register_transitions of a record whose service takes the action as an
    argument, `transition(session, actor, record, action, reason=..., expected_version=...)`."""

    def verb(action: str) -> Callable[..., Any]:
        def run(db: Session, who: rules.Actor, record: Any, form: Any) -> Any:
            return transition(
                db,
                who,
                record,
                action,
                reason=form.reason.data or "",
                expected_version=form.version_id.data,
            )

        return run

    return {action: verb(action) for action in actions}


def save_form(
    form: Any, change: Callable[[Session], T], *, rule_errors: bool = False
) -> tuple[int, T | None]:
    """Run a service call for a validated form and commit it once.

    Returns (200, result) when committed; otherwise the status to render the form with:
    400 with field errors (ValidationError) or, when `rule_errors`, the rule's message;
    409 when someone saved the record in between. Other rule violations propagate to the
    app's error pages (403 for tenancy and four eyes).
    """
    db = get_session()
    try:
        result = change(db)
    except ValidationError as exc:
        apply_errors(form, exc.errors)
        return 400, None
    except ConflictError as exc:
        form.form_errors.append(error_message(exc))
        return 409, None
    except rules.RuleViolation as exc:
        if not rule_errors:
            raise
        form.form_errors.append(error_message(exc))
        return 400, None
    db.commit()
    return 200, result


def form_page(
    form: Any,
    change: Callable[[Session], T],
    *,
    done: str | Callable[[T], str],
    saved_url: Callable[[T], str],
    template: str,
    rule_errors: bool = False,
    **context: Any,
) -> ResponseReturnValue:
    """A form page: a GET shows the form; a valid POST runs `change` through save_form and,
    once committed, flashes `done` (or `done(result)`) and redirects to `saved_url(result)`.
    Anything else shows the form again with save_form's status (400 for a form that is not
    valid)."""
    from flask import flash, redirect, render_template, request

    status = 400 if request.method == "POST" else 200
    if form.validate_on_submit():
        status, result = save_form(form, change, rule_errors=rule_errors)
        if status == 200:
            saved = cast(T, result)
            flash(done(saved) if callable(done) else done, "success")
            return redirect(saved_url(saved))
    return render_template(template, form=form, **context), status


def catalogue_pages(
    noun: str,
    model: type[T],
    form: Callable[[T | None], Any],
    values: Callable[[Any, T | None], dict[str, Any]],
    save: Callable[..., T],
    *,
    done: Callable[[T], str],
    ministry_only: Any,
) -> None:
    """The new and edit pages of a national catalogue's entries: `admin.<noun>_new` at
    /admin/<noun>s/new and `admin.<noun>_edit` at /admin/<noun>s/<<noun>_id>/edit, behind
    manage_catalogue, with the template admin/<noun>_form.html. `form(entry)` builds the
    page's form (entry None for a new one); a valid POST calls
    `save(session, actor, entry, expected_version=..., **values(form, entry))` through
    form_page, then flashes `done(saved)` and goes back to the catalogue `admin.<noun>s`.
    A national catalogue is the ministry's: an admin of a bureau gets a 403 saying
    `ministry_only` (a lazy message)."""
    from flask import abort, url_for

    from registry.web.admin.policy import actor, requires

    def page(entry: T | None) -> ResponseReturnValue:
        if not actor().is_ministry:
            abort(403, str(ministry_only))
        shown = form(entry)
        context: dict[str, Any] = {noun: entry}
        return form_page(
            shown,
            lambda db: save(
                db, actor(), entry, expected_version=shown.version_id.data, **values(shown, entry)
            ),
            done=done,
            saved_url=lambda _saved: url_for(f"admin.{noun}s"),
            template=f"admin/{noun}_form.html",
            **context,
        )

    def new() -> ResponseReturnValue:
        return page(None)

    def edit(**ids: int) -> ResponseReturnValue:
        return page(get_or_404(model, ids[f"{noun}_id"]))

    for action, url, view in (
        ("new", f"/{noun}s/new", new),
        ("edit", f"/{noun}s/<int:{noun}_id>/edit", edit),
    ):
        view.__name__ = f"{noun}_{action}"
        bp.add_url_rule(
            url,
            endpoint=f"{noun}_{action}",
            view_func=requires("manage_catalogue")(view),
            methods=["GET", "POST"],
        )


def send_upload(stored: Any, path: Path) -> Response:
    """A stored upload (evidence, a submission's attachment) as a download, named as it was
    uploaded or else by its hash. Read whole (at most MAX_UPLOAD_BYTES): no file handle
    outlives the request, whoever the client."""
    from flask import send_file

    name = stored.original_name or f"{stored.sha256[:12]}.{EXTENSIONS[stored.media_type]}"
    return send_file(
        io.BytesIO(path.read_bytes()),
        mimetype=stored.media_type,
        as_attachment=True,
        download_name=name,
        max_age=0,
    )


def get_or_404(model: type[T], record_id: int) -> T:
    """A record of a national catalogue (no tenancy), or a 404."""
    from flask import abort

    record = get_session().get(model, record_id)
    if record is None:
        abort(404)
    return record


def form_messages(form: Any) -> list[str]:
    """The form-level and field errors of a form, as plain messages."""
    messages = [str(message) for message in form.form_errors]
    for name, errors in form.errors.items():
        if name is not None:
            messages.extend(str(message) for message in errors)
    return messages


def save_action(form: Any, change: Callable[[Session], T], *, rule_errors: bool = False) -> T:
    """save_form for a button that has no form page of its own: anything but a commit
    ends the request with save_form's status (409 when someone saved the record in
    between, 400 for bad input) and the form's messages."""
    from flask import abort

    status, result = save_form(form, change, rule_errors=rule_errors)
    if status != 200:
        abort(status, "; ".join(form_messages(form)))
    return cast(T, result)  # committed: the service's result

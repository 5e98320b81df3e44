"""Helpers shared by the admin views: history, labels, template filters."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from types import ModuleType
from typing import Any, TypeVar, cast

from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import rules
from registry.database import get_session
from registry.errors import ConflictError, ValidationError
from registry.models import Event
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
    "import": _l("导入"),
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
HIDDEN_FIELDS = frozenset({"version_id", "id"})


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


def changes(event: Event) -> list[tuple[str, Any, Any]]:
    """(field, before, after) for an update-like Event; empty for a creation."""
    if event.before is None:
        return []
    return [
        (key, event.before.get(key), value)
        for key, value in (event.after or {}).items()
        if key not in HIDDEN_FIELDS
    ]


@bp.app_template_filter("shanghai")
def shanghai(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(rules.SHANGHAI).strftime("%Y-%m-%d %H:%M")


@bp.app_context_processor
def admin_labels() -> dict[str, Any]:
    return {
        "ACTION_LABELS": ACTION_LABELS,
        "STATE_LABELS": STATE_LABELS,
        "LIST_LABELS": LIST_LABELS,
        "MEASURE_LABELS": MEASURE_LABELS,
        "event_changes": changes,
        "role_actions": _role_actions(),
    }


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
    done: str,
    saved_url: Callable[[T], str],
    template: str,
    rule_errors: bool = False,
    **context: Any,
) -> ResponseReturnValue:
    """A form page: a GET shows the form; a valid POST runs `change` through save_form and,
    once committed, flashes `done` and redirects to `saved_url(result)`. Anything else shows
    the form again with save_form's status (400 for a form that is not valid)."""
    from flask import flash, redirect, render_template, request

    status = 400 if request.method == "POST" else 200
    if form.validate_on_submit():
        status, result = save_form(form, change, rule_errors=rule_errors)
        if status == 200:
            flash(done, "success")
            return redirect(saved_url(cast(T, result)))
    return render_template(template, form=form, **context), status


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

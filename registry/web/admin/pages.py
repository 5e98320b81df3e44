"""The two pages every admin record has: its own page (the record, its history and the
workflow buttons) and its form (new or edit), named after the record's noun: template
`admin/<noun>.html` or `admin/<noun>_form.html`, endpoint `admin.<noun>`, URL argument
`<noun>_id`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from registry.web.admin.common import form_page, history
from registry.web.admin.forms import WorkflowForm
from registry.web.admin.policy import actor


def record_url(noun: str, record: Any) -> str:
    return url_for(f"admin.{noun}", **{f"{noun}_id": record.id})


def record_page(noun: str, record: Any, form: Any = None, **context: Any) -> str:
    """The record's page with its history; `form` (default: the workflow form) carries the
    version the buttons act on."""
    return render_template(
        f"admin/{noun}.html",
        form=form or WorkflowForm(formdata=None, version_id=record.version_id),
        events=history(noun, [record.id]),
        **{noun: record},
        **context,
    )


def record_form(
    noun: str,
    form: Any,
    change: Callable[[Session], Any],
    *,
    done: str,
    record: Any = None,
    rule_errors: bool = False,
    **context: Any,
) -> ResponseReturnValue:
    """form_page for the new (`record` None) or edit form of a record; once saved, flashes
    `done` and goes to the saved record's page."""
    return form_page(
        form,
        change,
        done=done,
        saved_url=lambda saved: record_url(noun, saved),
        template=f"admin/{noun}_form.html",
        rule_errors=rule_errors,
        **{noun: record},
        **context,
    )


def edit_form(
    noun: str,
    form: Any,
    record: Any,
    update: Callable[..., Any],
    values: Callable[[Any], dict[str, Any]],
    *,
    rule_errors: bool = False,
    **context: Any,
) -> ResponseReturnValue:
    """record_form for the edit form of `record`, saved by the service's
    `update(session, actor, record, expected_version=..., **values(form))` with the version
    the form was loaded at (409 when someone saved the record in between)."""
    return record_form(
        noun,
        form,
        lambda db: update(
            db, actor(), record, expected_version=form.version_id.data, **values(form)
        ),
        done=_("已保存。"),
        record=record,
        rule_errors=rule_errors,
        **context,
    )

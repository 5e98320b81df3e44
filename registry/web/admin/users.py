"""Accounts (system admins): list, add, disable. Disabling ends the user's sessions."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from wtforms import SelectChoice

from registry.database import get_session
from registry.models import Authority, User
from registry.services import accounts
from registry.web.admin.blueprint import bp
from registry.web.admin.common import save_action, save_form
from registry.web.admin.forms import DisableUserForm, UserForm
from registry.web.admin.policy import actor, requires

ROLE_LABELS = {"clerk": "录入员", "reviewer": "审核员", "admin": "系统管理员"}


def _manageable_authorities() -> list[Authority]:
    who = actor()
    query = select(Authority).order_by(Authority.level != "ministry", Authority.code)
    if not who.is_ministry:
        query = query.where(Authority.id == who.authority_id)
    return list(get_session().scalars(query))


def _user_form() -> UserForm:
    form = UserForm()
    form.authority.choices = [SelectChoice(a.id, a.name) for a in _manageable_authorities()]
    form.role.choices = [SelectChoice(role, _(label)) for role, label in ROLE_LABELS.items()]
    return form


def _load_user(user_id: int) -> User:
    user = get_session().get(User, user_id)
    who = actor()
    if user is None or not (who.is_ministry or user.authority_id == who.authority_id):
        abort(404)
    return user


@bp.route("/users", methods=["GET", "POST"])
@requires("manage_users")
def users():
    who = actor()
    form = _user_form()
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            status, user = save_form(
                form,
                lambda db: accounts.create_user(
                    db,
                    who,
                    username=form.username.data.strip(),
                    password=form.password.data,
                    authority=db.get(Authority, form.authority.data),
                    role=form.role.data,
                    display_name=form.display_name.data or "",
                ),
            )
            if user is not None:
                flash(_("已添加用户 %(name)s。", name=user.username), "success")
                return redirect(url_for("admin.users"))
    query = select(User).order_by(User.authority_id, User.username)
    if not who.is_ministry:
        query = query.where(User.authority_id == who.authority_id)
    return render_template(
        "admin/users.html",
        items=get_session().scalars(query).all(),
        form=form,
        disable_form=DisableUserForm(formdata=None),
        role_labels=ROLE_LABELS,
    ), status


@bp.post("/users/<int:user_id>/disable")
@requires("manage_users")
def user_disable(user_id: int):
    user = _load_user(user_id)
    form = DisableUserForm()
    if not form.validate_on_submit():
        abort(400, _("请填写停用理由。"))
    save_action(form, lambda db: accounts.disable_user(db, actor(), user, reason=form.reason.data))
    flash(_("已停用用户 %(name)s，其登录会话已失效。", name=user.username), "success")
    return redirect(url_for("admin.users"))

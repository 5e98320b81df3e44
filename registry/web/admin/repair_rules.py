"""The catalogue of credit repair rules (信用修复规则): which grounds may be repaired online,
the proof asked for and the time limits; the ministry's admins change them (with an Event)."""

from __future__ import annotations

from flask import abort, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from registry.database import get_session
from registry.models import Ground, RepairRule
from registry.services import repair_rules
from registry.web.admin.blueprint import bp
from registry.web.admin.common import form_page, get_or_404
from registry.web.admin.forms import RepairRuleForm
from registry.web.admin.policy import actor, requires


@bp.get("/repair-rules")
@requires("read")
def repair_rule_list():
    db = get_session()
    grounds = db.scalars(select(Ground).order_by(Ground.position, Ground.code)).all()
    by_ground = {r.ground_id: r for r in db.scalars(select(RepairRule))}
    return render_template("admin/repair_rules.html", grounds=grounds, rules=by_ground)


@bp.route("/repair-rules/<int:ground_id>", methods=["GET", "POST"])
@requires("manage_catalogue")
def repair_rule_edit(ground_id: int):
    if not actor().is_ministry:
        abort(403, _("列入事由目录由工业和信息化部维护。"))
    ground = get_or_404(Ground, ground_id)
    rule = get_session().scalar(select(RepairRule).where(RepairRule.ground_id == ground.id))
    defaults = {"accept_days": 3, "decide_days": 7, "active": True}
    form = RepairRuleForm(obj=rule, data=None if rule else defaults)
    return form_page(
        form,
        lambda session: repair_rules.save_rule(
            session,
            actor(),
            ground,
            proof=form.proof.data or "",
            accept_days=form.accept_days.data,
            decide_days=form.decide_days.data,
            active=bool(form.active.data),
            expected_version=form.version_id.data,
        ),
        done=_("已保存信用修复规则。"),
        saved_url=lambda _saved: url_for("admin.repair_rule_list"),
        template="admin/repair_rule_form.html",
        ground=ground,
        rule=rule,
    )

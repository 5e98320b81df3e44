"""The public submission forms (objection, credit repair, tip-off, tracking). They check
shape; services.submissions checks the rest and its messages go back on the fields."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import RadioField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

CAPACITY_LABELS = {"firm": _l("经营者本身"), "representative": _l("经营者的代理人")}


class HoneypotForm(FlaskForm):
    """A field people never see or fill (hidden by the stylesheet, skipped by screen
    readers); a robot that fills every field gives itself away."""

    website = StringField(_l("请勿填写此项"), validators=[Optional(), Length(max=200)])

    def is_robot(self) -> bool:
        return bool((self.website.data or "").strip())


class PetitionForm(HoneypotForm):
    """An objection or a credit repair request about one listing."""

    name = StringField(_l("申请人（单位或个人名称）"), validators=[DataRequired(), Length(max=200)])
    capacity = RadioField(
        _l("申请人身份"),
        choices=[SelectChoice(value, label) for value, label in CAPACITY_LABELS.items()],
        validators=[DataRequired()],
    )
    email = StringField(_l("电子邮箱"), validators=[Optional(), Length(max=254)])
    phone = StringField(_l("联系电话"), validators=[Optional(), Length(max=40)])
    statement = TextAreaField(_l("事实和理由"), validators=[DataRequired(), Length(max=5000)])
    files = MultipleFileField(_l("附件（PDF、PNG、JPEG、OFD、XLSX）"))


class TipForm(HoneypotForm):
    authority = SelectField(_l("向哪个电信管理机构举报"), choices=[], validators=[DataRequired()])
    subject_name = StringField(
        _l("被举报的经营者名称"), validators=[DataRequired(), Length(max=200)]
    )
    subject_uscc = StringField(
        _l("统一社会信用代码（如知道）"), validators=[Optional(), Length(max=40)]
    )
    statement = TextAreaField(_l("举报内容"), validators=[DataRequired(), Length(max=5000)])
    name = StringField(_l("您的姓名（可不填，匿名举报）"), validators=[Optional(), Length(max=200)])
    email = StringField(_l("电子邮箱（可不填）"), validators=[Optional(), Length(max=254)])
    phone = StringField(_l("联系电话（可不填）"), validators=[Optional(), Length(max=40)])
    files = MultipleFileField(_l("附件（PDF、PNG、JPEG、OFD、XLSX）"))


class TrackForm(FlaskForm):
    number = StringField(_l("受理编号"), validators=[DataRequired(), Length(max=40)])
    code = StringField(_l("查询码"), validators=[DataRequired(), Length(max=40)])

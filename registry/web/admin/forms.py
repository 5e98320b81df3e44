"""WTForms for the back-office. They check shape (required, lengths, dates); the services
check the rules and their ValidationError messages are put back on the fields."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    ValidationError,
    widgets,
)
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Optional

from registry import text
from registry.models import ENTERPRISE_KINDS, LICENCE_STATUSES, MEASURES
from registry.web.messages import localize

KIND_LABELS = {
    "basic": _l("基础电信业务"),
    "value_added": _l("增值电信业务"),
    "resale": _l("转售业务"),
    "other": _l("其他"),
}
LICENCE_STATUS_LABELS = {
    "valid": _l("有效"),
    "suspended": _l("暂停"),
    "revoked": _l("吊销"),
    "cancelled": _l("注销"),
    "expired": _l("过期"),
}
MEASURE_LABELS = {
    "warning": _l("警告"),
    "fine": _l("罚款"),
    "confiscation": _l("没收违法所得"),
    "rectify": _l("责令改正"),
    "stop_new_users": _l("暂停发展新用户"),
    "stop_expansion": _l("停止扩大经营"),
    "suspend_numbers": _l("暂停号码资源分配"),
    "licence_revocation": _l("吊销经营许可证"),
    "other": _l("其他"),
}


class VersionedForm(FlaskForm):
    """Carries the version the record was loaded at (optimistic locking)."""

    version_id = IntegerField(widget=widgets.HiddenInput(), validators=[Optional()])


class EnterpriseForm(VersionedForm):
    name = StringField(_l("经营者名称"), validators=[DataRequired(), Length(max=200)])
    uscc = StringField(_l("统一社会信用代码"), validators=[Optional(), Length(max=40)])
    province_code = SelectField(_l("省份"), choices=[], validate_choice=True)
    kind = SelectField(
        _l("经营者类别"), choices=[SelectChoice(k, KIND_LABELS[k]) for k in ENTERPRISE_KINDS]
    )
    address = StringField(_l("地址"), validators=[Optional(), Length(max=500)])

    def validate_uscc(self, field: StringField) -> None:
        """The checksum error (GB 32100-2015) is shown at the field, with the expected digit."""
        if field.data and field.data.strip():
            try:
                field.data = text.validate_uscc(field.data)
            except ValueError as exc:
                raise ValidationError(localize(str(exc))) from None


class LicenceForm(FlaskForm):
    number = StringField(_l("许可证编号"), validators=[DataRequired(), Length(max=60)])
    services = StringField(_l("业务种类"), validators=[Optional(), Length(max=500)])
    status = SelectField(
        _l("状态"), choices=[SelectChoice(s, LICENCE_STATUS_LABELS[s]) for s in LICENCE_STATUSES]
    )
    issued_on = DateField(_l("发证日期"), validators=[Optional()])
    expires_on = DateField(_l("有效期至"), validators=[Optional()])


class FormerNameForm(FlaskForm):
    former_name = StringField(_l("曾用名"), validators=[DataRequired(), Length(max=200)])
    used_until = DateField(_l("使用至"), validators=[Optional()])


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class SanctionForm(VersionedForm):
    decision_no = StringField(_l("处罚决定书文号"), validators=[DataRequired(), Length(max=80)])
    decided_on = DateField(_l("处理日期"), validators=[InputRequired()])
    facts = TextAreaField(_l("违法事实"), validators=[Optional(), Length(max=20000)])
    legal_basis = TextAreaField(_l("处罚依据"), validators=[Optional(), Length(max=5000)])
    measures = MultiCheckboxField(
        _l("处罚措施"), choices=[SelectChoice(m, MEASURE_LABELS[m]) for m in MEASURES]
    )
    fine_amount = StringField(_l("罚款金额（元）"), validators=[Optional(), Length(max=20)])
    confiscated_amount = StringField(_l("没收金额（元）"), validators=[Optional(), Length(max=20)])
    campaign = StringField(_l("专项行动"), validators=[Optional(), Length(max=200)])


class ListingForm(VersionedForm):
    ground = SelectField(_l("列入事由"), coerce=int, choices=[])
    decided_on = DateField(_l("处理日期"), validators=[InputRequired()])
    sanction = SelectField(_l("所依据的处罚决定"), coerce=int, choices=[])
    source_expires_on = DateField(
        _l("原决定截止日期（期限以原决定为准的事由）"), validators=[Optional()]
    )
    facts = TextAreaField(_l("事实说明"), validators=[Optional(), Length(max=20000)])


class WorkflowForm(VersionedForm):
    """The buttons of the workflow: submit, publish, return, remove, annul."""

    reason = TextAreaField(_l("理由"), validators=[Optional(), Length(max=5000)])
    report_filed_on = DateField(_l("年报补报日期（第38条）"), validators=[Optional()])
    filing_confirmed = BooleanField(_l("已核实年报补报"))


class NoticeForm(VersionedForm):
    slug = StringField(_l("网址标识"), validators=[DataRequired(), Length(max=120)])
    kind = SelectField(
        _l("公告类型"),
        choices=[SelectChoice("exposure", _l("曝光公告")), SelectChoice("removal", _l("移出公告"))],
    )
    title = StringField(_l("标题"), validators=[DataRequired(), Length(max=300)])
    body_md = TextAreaField(_l("正文（Markdown）"), validators=[Optional(), Length(max=100000)])
    listings = MultiCheckboxField(_l("包含的名单记录"), coerce=int, choices=[])


class PetitionForm(FlaskForm):
    kind = SelectField(
        _l("申请类型"),
        choices=[
            SelectChoice("objection", _l("异议")),
            SelectChoice("credit_repair", _l("信用修复")),
        ],
    )
    petitioner = StringField(_l("申请人"), validators=[DataRequired(), Length(max=200)])
    contact = StringField(_l("联系方式"), validators=[Optional(), Length(max=200)])
    received_on = DateField(_l("收到日期"), validators=[InputRequired()])
    statement = TextAreaField(_l("申请内容"), validators=[Optional(), Length(max=20000)])


class DecidePetitionForm(VersionedForm):
    outcome_state = SelectField(
        _l("处理结果"),
        choices=[
            SelectChoice("upheld", _l("成立")),
            SelectChoice("rejected", _l("不成立")),
            SelectChoice("withdrawn", _l("撤回")),
        ],
    )
    outcome = TextAreaField(_l("处理意见"), validators=[DataRequired(), Length(max=20000)])
    decided_on = DateField(_l("处理日期"), validators=[Optional()])


class EvidenceForm(FlaskForm):
    file = FileField(_l("文件（PDF、PNG、JPEG、OFD、XLSX）"), validators=[FileRequired()])
    description = StringField(_l("说明"), validators=[Optional(), Length(max=1000)])


class EvidenceActionForm(VersionedForm):
    """Retract (with a reason) or set public / private."""

    reason = StringField(_l("撤回理由"), validators=[Optional(), Length(max=2000)])
    public = HiddenField(validators=[Optional()])


class UserForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[DataRequired(), Length(min=3, max=64)])
    display_name = StringField(_l("姓名"), validators=[Optional(), Length(max=200)])
    authority = SelectField(_l("所属机构"), coerce=int, choices=[])
    role = SelectField(_l("角色"), choices=[])
    password = PasswordField(_l("初始密码"), validators=[DataRequired(), Length(min=10, max=1000)])
    confirm = PasswordField(
        _l("再次输入密码"), validators=[EqualTo("password", message=_l("两次输入的密码不一致。"))]
    )


class DisableUserForm(FlaskForm):
    reason = StringField(_l("停用理由"), validators=[DataRequired(), Length(max=1000)])


class GroundForm(VersionedForm):
    code = StringField(_l("代码"), validators=[Optional(), Length(max=10)])
    list_code = SelectField(
        _l("名单类型"),
        choices=[SelectChoice("bad", _l("不良名单")), SelectChoice("dishonest", _l("失信名单"))],
    )
    title = TextAreaField(_l("列入事由"), validators=[DataRequired(), Length(max=2000)])
    legal_basis = StringField(_l("依据"), validators=[Optional(), Length(max=200)])
    term_kind = SelectField(
        _l("期限类型"),
        choices=[
            SelectChoice("fixed", _l("固定期限（月）")),
            SelectChoice("until_removed", _l("至移出为止")),
            SelectChoice("source", _l("以原决定为准")),
        ],
    )
    term_months = IntegerField(
        _l("期限（月）"), validators=[Optional(), NumberRange(min=1, max=1200)]
    )
    removal_rule = SelectField(
        _l("移出规则"),
        choices=[
            SelectChoice("on_filing", _l("补报并经确认后移出（第38条）")),
            SelectChoice("expiry_or_early", _l("期满移出，或经决定提前移出")),
            SelectChoice("expiry_only", _l("仅期满移出")),
            SelectChoice("source", _l("以原决定为准")),
        ],
    )
    removal_note = TextAreaField(_l("移出说明"), validators=[Optional(), Length(max=2000)])
    active = BooleanField(_l("启用"), default=True)


def apply_errors(form: FlaskForm, errors: dict[str, str], aliases: dict[str, str] | None = None):
    """Put a service's ValidationError messages on the fields that caused them."""
    unplaced = []
    for name, message in errors.items():
        name = (aliases or {}).get(name, name)
        field = form._fields.get(name)
        message = localize(message)
        if field is None:
            unplaced.append(message)
        else:
            field.errors = [*field.errors, message]
    form.form_errors = [*form.form_errors, *unplaced]
    return form

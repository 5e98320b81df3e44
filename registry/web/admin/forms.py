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
NOTICE_KIND_LABELS = {"exposure": _l("曝光公告"), "removal": _l("移出公告")}
PETITION_KIND_LABELS = {"objection": _l("异议"), "credit_repair": _l("信用修复")}


def _text(
    label: str, max_length: int, *, required: bool = False, area: bool = False
) -> StringField:
    """A text field of at most `max_length` characters, required or left empty."""
    field = TextAreaField if area else StringField
    presence = DataRequired() if required else Optional()
    return field(label, validators=[presence, Length(max=max_length)])


def _choice(label: str, labels: dict[str, str]) -> SelectField:
    """A select among `labels` (value → label), in their order."""
    return SelectField(
        label, choices=[SelectChoice(value, shown) for value, shown in labels.items()]
    )


class VersionedForm(FlaskForm):
    """Carries the version the record was loaded at (optimistic locking)."""

    version_id = IntegerField(widget=widgets.HiddenInput(), validators=[Optional()])


class EnterpriseForm(VersionedForm):
    name = _text(_l("经营者名称"), 200, required=True)
    uscc = _text(_l("统一社会信用代码"), 40)
    province_code = SelectField(_l("省份"), choices=[], validate_choice=True)
    kind = _choice(_l("经营者类别"), {k: KIND_LABELS[k] for k in ENTERPRISE_KINDS})
    address = _text(_l("地址"), 500)

    def validate_uscc(self, field: StringField) -> None:
        """The checksum error (GB 32100-2015) is shown at the field, with the expected digit."""
        if field.data and field.data.strip():
            try:
                field.data = text.validate_uscc(field.data)
            except ValueError as exc:
                raise ValidationError(localize(str(exc))) from None


class LicenceForm(FlaskForm):
    number = _text(_l("许可证编号"), 60, required=True)
    services = _text(_l("业务种类"), 500)
    status = _choice(_l("状态"), {s: LICENCE_STATUS_LABELS[s] for s in LICENCE_STATUSES})
    issued_on = DateField(_l("发证日期"), validators=[Optional()])
    expires_on = DateField(_l("有效期至"), validators=[Optional()])


class FormerNameForm(FlaskForm):
    former_name = _text(_l("曾用名"), 200, required=True)
    used_until = DateField(_l("使用至"), validators=[Optional()])


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class SanctionForm(VersionedForm):
    decision_no = _text(_l("处罚决定书文号"), 80, required=True)
    decided_on = DateField(_l("处理日期"), validators=[InputRequired()])
    facts = _text(_l("违法事实"), 20000, area=True)
    legal_basis = _text(_l("处罚依据"), 5000, area=True)
    measures = MultiCheckboxField(
        _l("处罚措施"), choices=[SelectChoice(m, MEASURE_LABELS[m]) for m in MEASURES]
    )
    fine_amount = _text(_l("罚款金额（元）"), 20)
    confiscated_amount = _text(_l("没收金额（元）"), 20)
    campaign_id = SelectField(_l("专项行动"), coerce=int, choices=[], default=0)


class ListingForm(VersionedForm):
    ground = SelectField(_l("列入事由"), coerce=int, choices=[])
    decided_on = DateField(_l("处理日期"), validators=[InputRequired()])
    sanction = SelectField(_l("所依据的处罚决定"), coerce=int, choices=[])
    source_expires_on = DateField(
        _l("原决定截止日期（期限以原决定为准的事由）"), validators=[Optional()]
    )
    facts = _text(_l("事实说明"), 20000, area=True)
    campaign_id = SelectField(_l("专项行动"), coerce=int, choices=[], default=0)


class CampaignForm(VersionedForm):
    slug = _text(_l("标识（网址中使用，如 broadband-2020）"), 60)
    name = _text(_l("名称"), 200, required=True)
    starts_on = DateField(_l("开始日期"), validators=[InputRequired()])
    ends_on = DateField(_l("结束日期"), validators=[Optional()])
    lead_authority_id = SelectField(_l("牵头机构"), coerce=int, choices=[])
    legal_basis = _text(_l("依据或通知文号"), 200)
    description = _text(_l("说明"), 20000, area=True)


class WorkflowForm(VersionedForm):
    """The buttons of the workflow: submit, publish, return, remove, annul."""

    reason = _text(_l("理由"), 5000, area=True)
    report_filed_on = DateField(_l("年报补报日期（第38条）"), validators=[Optional()])
    filing_confirmed = BooleanField(_l("已核实年报补报"))


class NoticeForm(VersionedForm):
    slug = _text(_l("网址标识"), 120, required=True)
    kind = _choice(_l("公告类型"), NOTICE_KIND_LABELS)
    title = _text(_l("标题"), 300, required=True)
    body_md = _text(_l("正文（Markdown）"), 100000, area=True)
    listings = MultiCheckboxField(_l("包含的名单记录"), coerce=int, choices=[])


class PetitionForm(FlaskForm):
    kind = _choice(_l("申请类型"), PETITION_KIND_LABELS)
    petitioner = _text(_l("申请人"), 200, required=True)
    contact = _text(_l("联系方式"), 200)
    received_on = DateField(_l("收到日期"), validators=[InputRequired()])
    statement = _text(_l("申请内容"), 20000, area=True)


class DecidePetitionForm(VersionedForm):
    outcome_state = _choice(
        _l("处理结果"),
        {"upheld": _l("成立"), "rejected": _l("不成立"), "withdrawn": _l("撤回")},
    )
    outcome = _text(_l("处理意见"), 20000, required=True, area=True)
    decided_on = DateField(_l("处理日期"), validators=[Optional()])


class EvidenceForm(FlaskForm):
    file = FileField(_l("文件（PDF、PNG、JPEG、OFD、XLSX）"), validators=[FileRequired()])
    description = _text(_l("说明"), 1000)


class EvidenceActionForm(VersionedForm):
    """Retract (with a reason) or set public / private."""

    reason = _text(_l("撤回理由"), 2000)
    public = HiddenField(validators=[Optional()])


class UserForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[DataRequired(), Length(min=3, max=64)])
    display_name = _text(_l("姓名"), 200)
    authority = SelectField(_l("所属机构"), coerce=int, choices=[])
    role = SelectField(_l("角色"), choices=[])
    password = PasswordField(_l("初始密码"), validators=[DataRequired(), Length(min=10, max=1000)])
    confirm = PasswordField(
        _l("再次输入密码"), validators=[EqualTo("password", message=_l("两次输入的密码不一致。"))]
    )


class DisableUserForm(FlaskForm):
    reason = _text(_l("停用理由"), 1000, required=True)


class GroundForm(VersionedForm):
    code = _text(_l("代码"), 10)
    list_code = _choice(
        _l("名单类型"),
        {"bad": _l("不良名单"), "dishonest": _l("失信名单")},
    )
    title = _text(_l("列入事由"), 2000, required=True, area=True)
    legal_basis = _text(_l("依据"), 200)
    term_kind = _choice(
        _l("期限类型"),
        {
            "fixed": _l("固定期限（月）"),
            "until_removed": _l("至移出为止"),
            "source": _l("以原决定为准"),
        },
    )
    term_months = IntegerField(
        _l("期限（月）"), validators=[Optional(), NumberRange(min=1, max=1200)]
    )
    removal_rule = _choice(
        _l("移出规则"),
        {
            "on_filing": _l("补报并经确认后移出（第38条）"),
            "expiry_or_early": _l("期满移出，或经决定提前移出"),
            "expiry_only": _l("仅期满移出"),
            "source": _l("以原决定为准"),
        },
    )
    removal_note = _text(_l("移出说明"), 2000, area=True)
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


class SubmissionActionForm(VersionedForm):
    """The buttons of a public submission's handling; each action reads its own fields."""

    reason = _text(_l("理由"), 5000, area=True)
    outcome = SelectField(
        _l("处理结果"),
        choices=[SelectChoice("upheld", _l("成立")), SelectChoice("rejected", _l("不成立"))],
        validate_choice=False,
    )
    effect = SelectField(
        _l("对名单记录"),
        choices=[
            SelectChoice("remove", _l("提前移出")),
            SelectChoice("annul", _l("撤销")),
        ],
        validate_choice=False,
    )
    user_id = IntegerField(_l("经办人"), validators=[Optional(), NumberRange(min=1, max=2**31 - 1)])
    body = _text(_l("办理记录"), 5000, area=True)


class RepairRuleForm(VersionedForm):
    proof = _text(_l("需要提交的证明材料"), 5000, area=True)
    accept_days = IntegerField(_l("受理期限（日）"), validators=[InputRequired()])
    decide_days = IntegerField(_l("决定期限（日）"), validators=[InputRequired()])
    active = BooleanField(_l("接受网上信用修复申请"))

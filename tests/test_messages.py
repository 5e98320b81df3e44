"""Messages of the rules, services and command line (registry.messages): Chinese source
strings in the Babel catalogue, translated into the reader's language where they are shown."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from registry.errors import ValidationError, error_text
from registry.messages import Message, _, console_locale, translate
from registry.services import listings
from registry.services.accounts import actor_for
from registry.translations import extract_python
from tests.factories import login, post
from tests.test_i18n import HAN, PO

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = ROOT / "registry"
# Where every message for people must be a `_()` call.
SOURCES = sorted(
    [REGISTRY / "rules.py", REGISTRY / "cli.py", REGISTRY / "text.py", REGISTRY / "messages.py"]
    + list((REGISTRY / "services").glob("*.py"))
    + list((REGISTRY / "imports").glob("*.py"))
)
# Chinese literals that are not messages: the reason stored on a listing that expired (data,
# shown as recorded like every end reason a reviewer types), and the English help of
# `registry import`, which names a column as the file spells it.
DATA_LITERALS = {
    ("listings.py", "期满 / term ended "),
    ("cli.py", "Listing authority (code, e.g. 440000 or MIIT) for rows whose 列入单位 is empty."),
}
# Definitions (file, module-level name) whose Chinese literals are what files and codes say,
# matched and never shown: the column headers and list names an import file may use, the
# province suffixes and bureau name stripped to find a province, the Chinese date form a cell
# may hold, the marks of licence and decision numbers (证, 号, 罚...).
DATA_DEFINITIONS = {
    ("parse.py", "HEADER_ALIASES"),
    ("validate.py", "LIST_NAMES"),
    ("validate.py", "_PROVINCE_SUFFIXES"),
    ("validate.py", "_province_names"),
    ("validate.py", "_DATE_RES"),
    ("text.py", "_ICP_CERT_RE"),
    ("text.py", "canonical_licence"),
    ("text.py", "_CODE_MARK_RE"),
}


def message_ids(path: Path) -> list[str]:
    with path.open("rb") as fh:
        calls = extract_python(fh, {"_", "N_"}, (), {})
        return [args[0] for _line, _name, args, _c in calls if args and args[0]]


def _definition_name(statement: ast.stmt) -> str | None:
    """The name a module-level statement defines (an assignment, a function, a class)."""
    if isinstance(statement, ast.FunctionDef | ast.ClassDef):
        return statement.name
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target = statement.targets[0]
    elif isinstance(statement, ast.AnnAssign):
        target = statement.target
    else:
        return None
    return target.id if isinstance(target, ast.Name) else None


def test_message_is_the_chinese_text_and_keeps_msgid_and_params():
    message = _(
        "当前状态（%(state)s）不能执行此操作（%(action)s）", state="draft", action="publish"
    )
    assert message == "当前状态（draft）不能执行此操作（publish）"
    assert message.msgid == "当前状态（%(state)s）不能执行此操作（%(action)s）"
    assert dict(message.params) == {"state": "draft", "action": "publish"}
    assert translate(message, "en") == "cannot publish a draft record"
    assert translate(message, "zh_Hans") == str(message)
    assert translate("not a Message", "en") == "not a Message"
    copy = pickle.loads(pickle.dumps(message))
    assert isinstance(copy, Message) and copy.msgid == message.msgid and copy == message


def test_a_message_parameter_and_a_list_parameter_are_shown_in_the_readers_language():
    codes = _(
        "未知的列入事由“%(value)s”，应为事由代码（%(codes)s）或目录中的事由全文",
        value="Z9",
        codes=["B1", "B2"],
    )
    assert codes == "未知的列入事由“Z9”，应为事由代码（B1、B2）或目录中的事由全文"
    assert (
        translate(codes, "en") == "unknown ground “Z9”: use a code (B1, B2) or the catalogue title"
    )
    line = _("第%(row)s行 · %(column)s · 错误：%(message)s", row=3, column="ground", message=codes)
    assert line == "第3行 · ground · 错误：" + codes
    assert translate(line, "en") == "row 3 · ground · error: " + translate(codes, "en")
    copy = pickle.loads(pickle.dumps(line))
    assert translate(copy, "en") == translate(line, "en")


def test_a_message_without_params_keeps_a_percent_sign_as_is():
    assert _("100%完成") == "100%完成"


def test_every_message_of_rules_services_and_cli_has_an_english_translation():
    with PO.open("rb") as fh:
        catalogue = read_po(fh, locale="en")
    ids = {msgid for path in SOURCES for msgid in message_ids(path)}
    assert len(ids) > 110  # the extraction really found the messages
    missing = sorted(i for i in ids if catalogue.get(i) is None or not catalogue.get(i).string)
    assert not missing, missing
    english = {i: catalogue.get(i).string for i in ids}
    assert not [i for i, text in english.items() if HAN.search(text)]


def test_every_message_of_the_import_and_the_uscc_checks_is_in_the_catalogue():
    ids = {
        msgid
        for path in [REGISTRY / "text.py", *(REGISTRY / "imports").glob("*.py")]
        for msgid in message_ids(path)
    }
    assert len(ids) > 50
    assert {"统一社会信用代码为空", "第%(row)s行 · %(column)s · 错误：%(message)s"} <= ids
    with PO.open("rb") as fh:
        catalogue = read_po(fh, locale="en")
    assert not sorted(i for i in ids if catalogue.get(i) is None or not catalogue.get(i).string)


def test_rules_services_cli_and_import_have_no_chinese_literal_outside_the_catalogue():
    """Every Chinese string they show is the msgid of a `_()` call; no "中文 / English" pair."""
    found = []
    for path in SOURCES:
        tree = ast.parse(path.read_text("utf-8"))
        marked, docstrings = set(), set()
        for statement in tree.body:
            if (path.name, _definition_name(statement)) in DATA_DEFINITIONS:
                marked.update(id(node) for node in ast.walk(statement))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_":
                marked.update(id(arg) for arg in node.args[:1])
            body = getattr(node, "body", None)
            if (
                isinstance(body, list)
                and body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
            ):
                docstrings.add(id(body[0].value))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and HAN.search(node.value)
                and id(node) not in marked | docstrings
                and (path.name, node.value) not in DATA_LITERALS
            ):
                found.append(f"{path.name}:{node.lineno} {node.value!r}")
    assert not found, found


@pytest.mark.parametrize(
    ("environ", "locale"),
    [
        ({}, "zh_Hans"),
        ({"LANG": "C.UTF-8"}, "zh_Hans"),
        ({"LANG": "zh_CN.UTF-8"}, "zh_Hans"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "zh_CN.UTF-8", "LC_ALL": "en_GB.UTF-8"}, "en"),
        ({"LANGUAGE": "zh_CN:en", "LANG": "en_US.UTF-8"}, "zh_Hans"),
        ({"LANGUAGE": "", "LC_MESSAGES": "en_US.UTF-8"}, "en"),
    ],
)
def test_console_language_follows_the_posix_locale(environ, locale):
    assert console_locale(environ) == locale


def test_validation_error_text_is_translated_message_by_message():
    exc = ValidationError(
        {"username": _("用户名已存在"), "role": _("角色须为 %(roles)s", roles="a")}
    )
    assert error_text(exc, lambda m: translate(m, "en")) == (
        "username taken; the role must be one of a"
    )
    assert error_text(exc, str) == "用户名已存在; 角色须为 a"


def _as(app, user):
    client = app.test_client()
    assert login(client, user).status_code == 302
    return client


def test_service_error_on_an_admin_form_is_chinese_by_default_and_english_with_lang_en(app, make):
    admin = make.user("admin", "MIIT")
    taken = make.user("clerk", "440000")
    form = {
        "username": taken.username,
        "authority": make.authority("440000").id,
        "role": "clerk",
        "password": "a long enough password",
        "confirm": "a long enough password",
    }
    chinese = post(_as(app, admin), "/admin/users", form)
    assert chinese.status_code == 400
    assert "用户名已存在" in chinese.get_data(as_text=True)
    assert "username taken" not in chinese.get_data(as_text=True)
    english = post(_as(app, admin), "/admin/users?lang=en", form)
    assert english.status_code == 400
    assert "username taken" in english.get_data(as_text=True)
    assert "用户名已存在" not in english.get_data(as_text=True)


def test_rule_violation_error_page_follows_the_language(app, make, session):
    reviewer = make.user("reviewer", "440000")
    item = make.listing(make.actor("clerk", "440000"))
    listings.submit_listing(session, actor_for(reviewer), item)
    session.flush()
    url = f"/admin/listings/{item.id}/publish"
    chinese = post(_as(app, reviewer), url, {"version_id": item.version_id})
    assert chinese.status_code == 403
    assert "不能发布自己提交的记录（双人复核）" in chinese.get_data(as_text=True)
    english = post(_as(app, reviewer), url + "?lang=en", {"version_id": item.version_id})
    assert english.status_code == 403
    assert "you cannot publish your own submission (four eyes)" in english.get_data(as_text=True)

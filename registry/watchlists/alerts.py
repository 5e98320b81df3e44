"""Mail to watchlist subscribers, through the outbox (registry/mail.py): the confirmation of
a mail address, the alert about one change and the daily digest of a day's changes. In Chinese with the English translation
below it (the subscriber's language is not known outside the request)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from registry import mail
from registry.messages import Message, _

ACTIONS = {
    "publish": _("列入"),
    "remove": _("移出"),
    "expire": _("期满移出"),
    "annul": _("撤销列入"),
}


def confirmation(session: Session, address: str, link: str, ref: str) -> None:
    """Ask the owner of `address` to confirm the subscription at `link`."""
    body = _(
        "有人用本邮箱订阅了电信业务经营者信用名单的关注清单。"
        "如是您本人，请打开以下地址并点击“确认订阅”；如不是，请忽略本邮件。\n%(link)s",
        link=link,
    )
    mail.enqueue_bilingual(session, address, _("请确认关注清单订阅"), [body], ref=ref)


def change(
    session: Session, address: str, record: dict[str, Any], action: str, link: str, ref: str
) -> None:
    """Tell `address` about one public change of a watched firm's listing."""
    what = ACTIONS.get(action, action)
    name, uscc = str(record.get("name") or ""), str(record.get("uscc") or "")
    subject = _("关注的经营者 %(name)s：%(what)s", name=name[:100], what=what)
    body = _(
        "关注的经营者 %(name)s（统一社会信用代码 %(uscc)s）：%(what)s。\n"
        "名单：%(list)s；状态：%(state)s；列入事由：%(ground)s。\n"
        "管理或退订（无需登录）：%(link)s",
        name=name,
        uscc=uscc or "-",
        what=what,
        list=str(record.get("list") or "-"),
        state=str(record.get("state") or "-"),
        ground=str(record.get("ground_title") or record.get("ground") or "-"),
        link=link,
    )
    mail.enqueue_bilingual(session, address, subject, [body], ref=ref)


def _digest_line(record: dict[str, Any], action: str) -> Message:
    return _(
        "%(name)s（统一社会信用代码 %(uscc)s）：%(what)s；名单：%(list)s；状态：%(state)s",
        name=str(record.get("name") or ""),
        uscc=str(record.get("uscc") or "") or "-",
        what=ACTIONS.get(action, action),
        list=str(record.get("list") or "-"),
        state=str(record.get("state") or "-"),
    )


def digest(
    session: Session,
    address: str,
    day: str,
    changes: list[tuple[dict[str, Any], str]],
    link: str,
    ref: str,
) -> None:
    """Tell `address` in one mail about the changes (record, action) of the watched firms
    on the Asia/Shanghai `day`."""
    subject = _("关注清单每日汇总 %(day)s：%(count)s 项变化", day=day, count=len(changes))
    parts = [
        _("%(day)s（北京时间）关注的经营者有以下变化：", day=day),
        *(_digest_line(record, action) for record, action in changes),
        _("管理或退订（无需登录）：%(link)s", link=link),
    ]
    mail.enqueue_bilingual(session, address, subject, parts, ref=ref)

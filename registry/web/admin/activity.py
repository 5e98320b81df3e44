"""The back office's history read as sentences: who (their name), what they did (the verb
in the reader's language), to what (the kind of record and its title, linked), never a raw
id. One query per kind of record for a whole list of Events."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from registry.database import get_session
from registry.models import (
    Enterprise,
    Event,
    Evidence,
    FormerName,
    Ground,
    ImportBatch,
    Licence,
    Listing,
    Notice,
    Petition,
    Sanction,
    User,
)

ENTITY_LABELS = {
    "listing": _l("名单记录"),
    "sanction": _l("处罚决定"),
    "notice": _l("公告"),
    "enterprise": _l("经营者"),
    "petition": _l("申请"),
    "licence": _l("许可证"),
    "former_name": _l("曾用名"),
    "evidence": _l("证据材料"),
    "import_batch": _l("导入批次"),
    "user_account": _l("用户"),
    "ground": _l("列入事由"),
}


@dataclass
class Line:
    """One Event as a sentence."""

    event: Event
    who: str
    entity: str
    title: str
    url: str | None


def _listing(item: Listing) -> tuple[str, str]:
    return (
        f"{item.enterprise.name}（{item.ground.code}）",
        url_for("admin.listing", listing_id=item.id),
    )


def _firm_child(item: Any) -> tuple[str, str]:
    return item.enterprise.name, url_for("admin.enterprise", enterprise_id=item.enterprise_id)


# entity type → (model, (title, url) of a loaded record)
_TITLES: dict[str, tuple[Any, Callable[[Any], tuple[str, str | None]]]] = {
    "listing": (Listing, _listing),
    "sanction": (
        Sanction,
        lambda s: (
            f"{s.decision_no} {s.enterprise.name}",
            url_for("admin.sanction", sanction_id=s.id),
        ),
    ),
    "notice": (Notice, lambda n: (n.title, url_for("admin.notice", notice_id=n.id))),
    "enterprise": (
        Enterprise,
        lambda e: (e.name, url_for("admin.enterprise", enterprise_id=e.id)),
    ),
    "petition": (
        Petition,
        lambda p: (
            f"{p.petitioner} · {p.listing.enterprise.name}",
            url_for("admin.petition", petition_id=p.id),
        ),
    ),
    "licence": (Licence, lambda x: (f"{x.number} {_firm_child(x)[0]}", _firm_child(x)[1])),
    "former_name": (FormerName, lambda x: (f"{x.name} {_firm_child(x)[0]}", _firm_child(x)[1])),
    "evidence": (
        Evidence,
        lambda e: (
            e.original_name or e.sha256[:12],
            url_for("admin.evidence_download", evidence_id=e.id),
        ),
    ),
    "import_batch": (
        ImportBatch,
        lambda b: (b.filename or b.sha256[:12], url_for("admin.import_batch", batch_id=b.id)),
    ),
    "user_account": (User, lambda u: (u.display_name or u.username, None)),
    "ground": (Ground, lambda g: (f"{g.code} {g.title}", None)),
}


def _titles(events: list[Event]) -> dict[tuple[str, int], tuple[str, str | None]]:
    wanted: dict[str, set[int]] = defaultdict(set)
    for event in events:
        wanted[event.entity_type].add(event.entity_id)
    found: dict[tuple[str, int], tuple[str, str | None]] = {}
    db = get_session()
    for kind, ids in wanted.items():
        if kind not in _TITLES:
            continue
        model, title = _TITLES[kind]
        for record in db.scalars(select(model).where(model.id.in_(ids))):
            found[(kind, record.id)] = title(record)
    return found


def user_names(ids: Iterable[int | None]) -> dict[int, str]:
    """Display names of these users."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    users = get_session().scalars(select(User).where(User.id.in_(wanted)))
    return {u.id: u.display_name or u.username for u in users}


def sentences(events: Iterable[Event]) -> list[Line]:
    """The Events as sentences, in their order."""
    events = list(events)
    titles = _titles(events)
    names = user_names(e.actor_id for e in events)
    lines = []
    for event in events:
        title, url = titles.get((event.entity_type, event.entity_id), ("", None))
        who = names.get(event.actor_id or 0, event.actor_label)
        entity = str(ENTITY_LABELS.get(event.entity_type, ""))
        lines.append(Line(event, who, entity, title, url))
    return lines

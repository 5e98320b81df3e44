"""The catalogue the public pages and the API show on every request (province authorities,
listing grounds, which grounds may be repaired online), kept per process.

It is valid for the event counter value it was loaded at: every committed write (an edited
ground included) advances the counter, and the next request of any worker on any host that
reads a different value loads it again. No timer. The counter is the one the public cache
read for this request, or one primary-key read. What is kept are plain copies of the rows,
never ORM objects bound to a session.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import SimpleNamespace

from flask import Flask
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from registry.database import get_session
from registry.models import Authority, Ground, RepairRule
from registry.web import current_flask_app, request_memo
from registry.web.cache import event_counter

EXTENSION = "registry_catalogue"


@dataclass(frozen=True)
class Catalogue:
    provinces: dict[str, str]  # authority code -> short name (广东省通信管理局 -> 广东省)
    province_codes: frozenset[str]  # GB/T 2260 province codes a firm may have
    grounds: dict[str, SimpleNamespace]  # code -> the ground's columns, in catalogue order
    repairable_ground_ids: frozenset[int]  # grounds with an active credit repair rule
    seq: int  # the event counter it was loaded at
    # id -> (code, title) of every ground, (name, code) of every authority: what a search
    # shows of a listing the index holds by those ids (registry.web.hits)
    ground_names: dict[int, tuple[str, str]] = field(default_factory=dict)
    authority_names: dict[int, tuple[str, str]] = field(default_factory=dict)

    @property
    def ground_codes(self) -> frozenset[str]:
        return frozenset(self.grounds)


class _Holder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.value: Catalogue | None = None


def load(session: Session, seq: int = 0) -> Catalogue:
    provinces: dict[str, str] = {}
    for code, name in session.execute(
        select(Authority.code, Authority.name)
        .where(Authority.level == "province")
        .order_by(Authority.code)
    ):
        provinces[code] = name.removesuffix("通信管理局")
    columns = [attr.key for attr in inspect(Ground).column_attrs]
    grounds = {
        ground.code: SimpleNamespace(**{key: getattr(ground, key) for key in columns})
        for ground in session.scalars(select(Ground).order_by(Ground.position, Ground.code))
    }
    repairable = session.scalars(select(RepairRule.ground_id).where(RepairRule.active.is_(True)))
    authority_names = {
        row.id: (row.name, row.code)
        for row in session.execute(select(Authority.id, Authority.name, Authority.code))
    }
    return Catalogue(
        provinces=provinces,
        province_codes=frozenset(code[:2] + "0000" for code in provinces),
        grounds=grounds,
        repairable_ground_ids=frozenset(repairable),
        seq=seq,
        ground_names={ground.id: (ground.code, ground.title) for ground in grounds.values()},
        authority_names=authority_names,
    )


def _holder(app: Flask) -> _Holder:
    holder = app.extensions.get(EXTENSION)
    if holder is None:
        holder = app.extensions.setdefault(EXTENSION, _Holder())
    return holder


def get(session: Session | None = None) -> Catalogue:
    """The current app's catalogue, loaded with `session` when the event counter moved.
    Without one (in a request), the request's session is opened only for that load: a
    view that reads nothing else through a Session never opens one. In a request, the
    counter is the one read for the request: the catalogue found first serves the rest of
    it (kept in the request's memo)."""
    memo = request_memo() if session is None else None
    if memo is not None:
        found = memo.get(EXTENSION)
        if found is not None:
            return found
    holder = _holder(current_flask_app())
    seq = event_counter(session)
    value = holder.value
    if value is None or value.seq != seq:
        with holder.lock:
            value = holder.value
            if value is None or value.seq != seq:
                value = holder.value = load(session if session is not None else get_session(), seq)
    if memo is not None:
        memo[EXTENSION] = value
    return value

"""The catalogue the public pages and the API show on every request (province authorities,
listing grounds), cached per process (issue 7: reloading it cost 5-10 % of a search).

Invalidation: the cache is dropped at once after any request of this process that
committed (the admin who edits a ground sees the change on the next page), and otherwise
lives TTL seconds — so another worker shows a new or edited ground at most a minute late.
What is cached are plain copies of the rows, never ORM objects bound to a session.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import SimpleNamespace

from flask import Flask, current_app
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from registry.models import Authority, Ground

TTL = 60.0
EXTENSION = "registry_catalogue"


@dataclass(frozen=True)
class Catalogue:
    provinces: dict[str, str]  # authority code -> short name (广东省通信管理局 -> 广东省)
    province_codes: frozenset[str]  # GB/T 2260 province codes a firm may have
    grounds: dict[str, SimpleNamespace]  # code -> the ground's columns, in catalogue order
    loaded_at: float

    @property
    def ground_codes(self) -> frozenset[str]:
        return frozenset(self.grounds)


class _Holder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.value: Catalogue | None = None

    def invalidate(self, app: Flask | None = None) -> None:
        self.value = None


def load(session: Session) -> Catalogue:
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
    return Catalogue(
        provinces=provinces,
        province_codes=frozenset(code[:2] + "0000" for code in provinces),
        grounds=grounds,
        loaded_at=time.monotonic(),
    )


def _holder(app: Flask) -> _Holder:
    holder = app.extensions.get(EXTENSION)
    if holder is None:
        holder = app.extensions.setdefault(EXTENSION, _Holder())
        if holder.invalidate not in app.extensions.setdefault("registry_after_commit", []):
            app.extensions["registry_after_commit"].append(holder.invalidate)
    return holder


def get(session: Session) -> Catalogue:
    """The current app's catalogue, loaded with `session` when missing or older than TTL."""
    holder = _holder(current_app._get_current_object())  # type: ignore[attr-defined]
    value = holder.value
    if value is None or time.monotonic() - value.loaded_at > TTL:
        with holder.lock:
            value = holder.value
            if value is None or time.monotonic() - value.loaded_at > TTL:
                value = holder.value = load(session)
    return value

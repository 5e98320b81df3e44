"""The publication log in public: `/log` (HTML) and `/log.json?after=N` (incremental)."""

from __future__ import annotations

import json

from flask import Blueprint, abort, jsonify, render_template, url_for
from sqlalchemy import func, select

from registry import publog
from registry.database import get_session
from registry.models import LogEntry
from registry.web.api import BadParameter, int_arg, register_json_errors

bp = Blueprint("log", __name__)
register_json_errors(bp)

PAGE_SIZE = 50
MAX_LIMIT = 1000


@bp.get("/log")
def index():
    session = get_session()
    total = session.scalar(select(func.count(LogEntry.number))) or 0
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    try:
        page = int_arg("page", 1, minimum=1, maximum=pages)
    except BadParameter as exc:
        abort(400, exc.message)
    entries = session.scalars(
        select(LogEntry)
        .order_by(LogEntry.number.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    rows = [(entry, json.loads(entry.payload)) for entry in entries]
    head = entries[0] if entries and page == 1 else publog.head(session)
    return render_template(
        "log/index.html",
        rows=rows,
        page=page,
        pages=pages,
        total=total,
        head=head,
        genesis=publog.GENESIS_HASH,
    )


@bp.get("/log.json")
def as_json():
    """Entries after number N, oldest first; follow `next` until it is null."""
    session = get_session()
    after = int_arg("after", 0, minimum=0)
    limit = int_arg("limit", 100, minimum=1, maximum=MAX_LIMIT)
    entries = session.scalars(
        select(LogEntry).where(LogEntry.number > after).order_by(LogEntry.number).limit(limit)
    ).all()
    head = publog.head(session)
    last = entries[-1].number if entries else after
    more = head is not None and head.number > last
    return jsonify(
        {
            "head": {"number": head.number, "entry_hash": head.entry_hash} if head else None,
            "after": after,
            "entries": [publog.entry_json(entry) for entry in entries],
            "next": url_for(".as_json", after=last, limit=limit, _external=True) if more else None,
        }
    )

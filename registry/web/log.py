"""The publication log in public: `/log` (HTML) and `/log.json?after=N` (incremental); as a
Merkle tree, its signed tree head `/log/sth.json`, the key `/log/key` and the inclusion and
consistency proofs of RFC 9162 under `/log/proof/`."""

from __future__ import annotations

import functools
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry import publog, signing
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


@functools.lru_cache(maxsize=4)
def _parse_key(text: str) -> Ed25519PrivateKey:
    return signing.parse_private_key(text)


def signing_key() -> Ed25519PrivateKey:
    return _parse_key(current_app.config["LOG_SIGNING_KEY"])


@bp.get("/log/key")
def key() -> Response:
    """The public key that signs the tree heads, PEM; its key id in the Key-Id header."""
    public = signing_key().public_key()
    response = Response(signing.public_pem(public), mimetype="text/plain")
    response.headers["Key-Id"] = signing.key_id(public)
    return response


@bp.get("/log/key.json")
def key_json() -> Response:
    public = signing_key().public_key()
    return jsonify(
        {
            "algorithm": "Ed25519",
            "key_id": signing.key_id(public),
            "public_key": signing.public_pem(public),
        }
    )


@bp.get("/log/sth.json")
def sth() -> Response:
    """The signed head of the whole log (the same on every host until the next entry)."""
    return jsonify(signing.sign(signing_key(), publog.tree_head(get_session())))


def required_arg(name: str, minimum: int) -> int:
    if name not in request.args:
        raise BadParameter(name, _("缺少参数 %(name)s", name=name))
    return int_arg(name, minimum, minimum=minimum)


def tree_size_arg(session: Session, name: str) -> int:
    """The required tree size `name`, from 1 to the log's current number of entries."""
    size = required_arg(name, 1)
    current = publog.tree_size(session)
    if size > current:
        raise BadParameter(
            name,
            _("参数 %(name)s 不能大于当前日志条数 %(current)d", name=name, current=current),
        )
    return size


@bp.get("/log/proof/inclusion")
def inclusion() -> Response:
    """The audit path of leaf `index` (entry number index + 1) in the tree of `size`."""
    session = get_session()
    index = required_arg("index", 0)
    size = tree_size_arg(session, "size")
    if index >= size:
        raise BadParameter("index", _("参数 index 必须小于 size"))
    path = publog.inclusion_proof(session, index, size)
    return _proof(leaf_index=index, tree_size=size, inclusion_path=path)


@bp.get("/log/proof/consistency")
def consistency() -> Response:
    """The proof that the tree of `first` entries is a prefix of the tree of `second`."""
    session = get_session()
    first = required_arg("first", 1)
    second = tree_size_arg(session, "second")
    if first > second:
        raise BadParameter("first", _("参数 first 不能大于 second"))
    path = publog.consistency_proof(session, first, second)
    return _proof(first=first, second=second, consistency_path=path)


def _proof(**fields: int | list[bytes]) -> Response:
    """A proof as JSON: its tree sizes as given, its path of hashes in hex."""
    return jsonify(
        {
            name: [node.hex() for node in value] if isinstance(value, list) else value
            for name, value in fields.items()
        }
    )

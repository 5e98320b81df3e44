"""Only registry.visibility decides what the public sees.

The web layer, search, feeds, the publication log and exports compare no publication
state themselves: what the public sees they ask visibility.py, and the back office's work
lists by state come from services.worklists. Each rule in visibility.py has a SQL and a
Python shape, and they must agree.
"""

from __future__ import annotations

import ast
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from registry import visibility
from registry.models import LISTING_STATES, NOTICE_STATES, Listing, Notice, Sanction

ROOT = Path(__file__).resolve().parent.parent / "registry"
STATES = frozenset(LISTING_STATES) | frozenset(NOTICE_STATES)
# Names of constants that stand for publication states (models, rules, visibility).
STATE_CONSTANTS = frozenset(
    {"LISTING_STATES", "NOTICE_STATES", "EDITABLE_STATES", "PUBLISHED", "EVER_PUBLISHED"}
)
_STATE_WORDS = "|".join(sorted(STATES))
_SQL_STATE = re.compile(
    rf"\bstate\b\s*(=|!=|<>|\bin\b|\bnot\s+in\b)\s*\(?\s*'({_STATE_WORDS})'", re.IGNORECASE
)
# The columns of the evidence rule (marked public, not retracted).
EVIDENCE_COLUMNS = frozenset({"public", "retracted_at"})


def scanned_modules() -> list[Path]:
    """Every module of the web layer (the back office too: its work lists by state live in
    services.worklists), search, and the publication log, exports, feeds and statistics."""
    web = list((ROOT / "web").rglob("*.py"))
    search = list((ROOT / "search").rglob("*.py"))
    return sorted(
        web + search + [ROOT / name for name in ("publog.py", "exports.py", "feeds.py", "stats.py")]
    )


def _is_state(node: ast.AST) -> bool:
    """A state literal, a tuple/list/set of them, or a state constant."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value in STATES
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_is_state(item) for item in node.elts)
    if isinstance(node, ast.Name):
        return node.id in STATE_CONSTANTS
    if isinstance(node, ast.Attribute):
        return node.attr in STATE_CONSTANTS
    return False


def state_filters(source: str) -> list[tuple[int, str]]:
    """(line, code) of each comparison or SQL expression against a publication state, and
    each use of the evidence rule's columns."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            if any(_is_state(side) for side in [node.left, *node.comparators]):
                found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.Call):
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr in {"in_", "not_in", "notin_", "is_", "isnot", "is_not"}
                and any(_is_state(arg) for arg in node.args)
            ):
                found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.Attribute) and node.attr in EVIDENCE_COLUMNS:
            if isinstance(node.value, ast.Name) and node.value.id == "Evidence":
                found.append((node.lineno, ast.unparse(node)))
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _SQL_STATE.search(node.value)
        ):
            found.append((node.lineno, node.value[:80]))
    return found


@pytest.mark.parametrize(
    "code",
    [
        'select(Notice).where(Notice.state == "published")',
        'Listing.state != "draft"',
        'x = sanction.decision_no if sanction.state == "published" else None',
        'Listing.state.in_(("published", "removed"))',
        "Listing.state.in_(EVER_PUBLISHED)",
        "ok = listing.state in rules.EDITABLE_STATES",
        "text(\"SELECT id FROM listing WHERE state = 'published'\")",
        "text(\"SELECT id FROM notice WHERE state IN ('published')\")",
        "select(Evidence).where(Evidence.public.is_(True))",
        "select(Evidence).where(Evidence.retracted_at.is_(None))",
    ],
)
def test_detector_flags_a_state_filter(code):
    assert state_filters(code), code


@pytest.mark.parametrize(
    "code",
    [
        "select(Notice).where(visibility.notice_public())",
        '{"state": listing.state}',
        'e.action != "publish"',
        'LABELS = {"draft": "草稿"}',
    ],
)
def test_detector_lets_visibility_calls_and_plain_values_pass(code):
    assert not state_filters(code), code


def test_scanned_modules_cover_web_search_feeds_publog_and_exports():
    names = {p.relative_to(ROOT).as_posix() for p in scanned_modules()}
    assert {"web/public.py", "web/api.py", "web/feeds.py", "search/engine.py"} <= names
    assert {"publog.py", "exports.py", "feeds.py", "stats.py", "web/admin/dashboard.py"} <= names


def test_no_web_search_feed_log_or_export_module_filters_on_a_publication_state():
    offenders = [
        f"{path.relative_to(ROOT.parent)}:{line}: {code}"
        for path in scanned_modules()
        for line, code in state_filters(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, "ask registry.visibility instead:\n" + "\n".join(offenders)


# --- the SQL and Python shapes of each rule agree -----------------------------------------


def _listings_in_every_state(session, make, today, **columns) -> list[Listing]:
    """One listing for each state and each expiry around today (none, yesterday, today,
    tomorrow), with `columns` set on every one."""
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    rows = []
    for state in LISTING_STATES:
        for expires in (None, today - timedelta(days=1), today, today + timedelta(days=1)):
            listing = make.published_listing(clerk, reviewer)
            listing.state, listing.expires_on = state, expires
            for name, value in columns.items():
                setattr(listing, name, value)
            rows.append(listing)
    session.flush()
    return rows


def test_listing_in_force_sql_and_python_and_stored_fields_agree(session, make, today):
    rows = _listings_in_every_state(session, make, today)
    ids = [li.id for li in rows]
    by_sql = set(
        session.scalars(
            select(Listing.id).where(Listing.id.in_(ids), visibility.listing_in_force(today))
        )
    )
    by_python = {li.id for li in rows if visibility.listing_is_in_force(li, today)}
    assert by_sql == by_python
    assert by_sql, "some listings are in force"
    # the index stores only listings in force when indexed: their expiry is what is left
    for listing in rows:
        if listing.state == "published":
            stored = {"expires_on": listing.expires_on and listing.expires_on.isoformat()}
            assert visibility.stored_listing_in_force(stored, today.isoformat()) == (
                listing.id in by_sql
            )
    named = set(
        session.scalars(
            select(Listing.id).where(Listing.id.in_(ids), visibility.listing_named_in_notice())
        )
    )
    assert named == {li.id for li in rows if visibility.listing_is_named_in_notice(li)}
    assert not {li.id for li in rows if li.state in ("draft", "submitted")} & named


def test_sanction_and_decision_number_sql_and_python_agree(session, make):
    clerk = make.actor("clerk")
    firm = make.enterprise(clerk)
    sanctions = []
    for state in ("draft", "submitted", "published", "annulled"):
        sanction = make.sanction(clerk, firm)
        sanction.state = state
        sanctions.append(sanction)
    session.flush()
    ids = [s.id for s in sanctions]
    by_sql = dict(
        session.execute(
            select(Sanction.id, visibility.public_decision_no_column()).where(Sanction.id.in_(ids))
        ).all()
    )
    assert by_sql == {s.id: visibility.public_decision_no(s) for s in sanctions}
    assert [by_sql[s.id] is not None for s in sanctions] == [False, False, True, False]
    public = set(
        session.scalars(
            select(Sanction.id).where(Sanction.id.in_(ids), visibility.sanction_public())
        )
    )
    assert public == {s.id for s in sanctions if visibility.sanction_is_public(s)}
    assert visibility.public_decision_no(None) is None


def test_notice_sql_and_python_agree(session, make):
    authority = make.authority("440000")
    notices = [
        Notice(authority_id=authority.id, slug=f"visibility-{state}", title=state, state=state)
        for state in NOTICE_STATES
    ]
    session.add_all(notices)
    session.flush()
    ids = [n.id for n in notices]
    by_sql = set(session.scalars(visibility.public_notices().where(Notice.id.in_(ids))))
    assert by_sql == {n for n in notices if visibility.notice_is_public(n)}
    assert [n.state for n in by_sql] == ["published"]


def test_evidence_sql_and_python_agree(session, make):
    from registry.db import utcnow
    from registry.models import Evidence

    clerk = make.actor("clerk")
    sanction = make.sanction(clerk, make.enterprise(clerk))
    files = [
        Evidence(
            authority_id=sanction.authority_id,
            sanction_id=sanction.id,
            sha256=f"{n:064x}",
            size=1,
            media_type="application/pdf",
            public=public,
            retracted_at=retracted,
        )
        for n, (public, retracted) in enumerate(
            [(False, None), (True, None), (True, utcnow()), (False, utcnow())]
        )
    ]
    session.add_all(files)
    session.flush()
    ids = [f.id for f in files]
    by_sql = set(
        session.scalars(
            select(Evidence.id).where(Evidence.id.in_(ids), visibility.evidence_public())
        )
    )
    assert by_sql == {f.id for f in files if visibility.evidence_is_public(f)} == {files[1].id}


def test_listing_ever_published_and_left_on_sql_and_python_agree(session, make, today):
    from datetime import UTC, datetime

    # 16:30 UTC is already the next day in Shanghai
    ended_at = datetime(2025, 3, 31, 16, 30, tzinfo=UTC)
    rows = _listings_in_every_state(session, make, today, ended_at=ended_at)
    ids = [li.id for li in rows]
    ever = set(
        session.scalars(
            select(Listing.id).where(Listing.id.in_(ids), visibility.listing_ever_published())
        )
    )
    assert ever == {li.id for li in rows if visibility.listing_was_published(li)}
    assert not {li.id for li in rows if li.state in ("draft", "submitted")} & ever
    left = dict(
        session.execute(
            select(Listing.id, visibility.listing_left_on(today)).where(Listing.id.in_(ids))
        ).all()
    )
    by_python = {li.id: visibility.listing_left_day(li, today) for li in rows}
    as_dates = {k: (date.fromisoformat(v) if isinstance(v, str) else v) for k, v in left.items()}
    assert as_dates == by_python
    assert date(2025, 4, 1) in by_python.values()

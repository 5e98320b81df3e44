"""The open-data export reads plain rows, one query per batch (building ORM objects
per listing would dominate a CSV download), with the same fields the ORM path gave: the firm's first
licence, the decision number of a listing's published sanction."""

from __future__ import annotations

from registry import exports, rules
from registry.services import enterprises, sanctions


def test_export_rows_come_in_batch_queries_with_first_licence_and_decision(
    session, make, statements
):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    firm = make.enterprise(clerk)
    enterprises.add_licence(session, clerk, firm, number="粤B2-20100123")
    enterprises.add_licence(session, clerk, firm, number="B2-20090001")
    published = make.sanction(clerk, firm)
    sanctions.submit_sanction(session, clerk, published)
    sanctions.publish_sanction(session, reviewer, published)
    shown = make.published_listing(clerk, reviewer, enterprise=firm, sanction=published)
    hidden = make.published_listing(clerk, reviewer, "B2", enterprise=firm)
    others = [make.published_listing(clerk, reviewer) for _ in range(3)]
    session.flush()
    statements.clear()
    rows = list(exports.rows(session, rules.today()))
    # the ids in order, then one query per batch of rows
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 2
    mine = {row["ground"]: row for row in rows if row["uscc"] == firm.uscc}
    assert mine["B3"]["licence_no"] == "粤B2-20100123"
    assert mine["B3"]["decision_no"] == published.decision_no
    assert mine["B2"]["decision_no"] is None
    assert mine["B3"]["decided_on"] == shown.decided_on.isoformat()
    assert mine["B2"]["listed_on"] == hidden.listed_on.isoformat()
    assert {o.enterprise.uscc for o in others} <= {row["uscc"] for row in rows}

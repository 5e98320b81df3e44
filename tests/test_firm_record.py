"""What the public sees of a firm (registry.web.firmpage: its page and
`/api/v1/enterprises/<uscc>`) is what a plain ORM reading with the visibility rules gives, on
every backend: licences and former names in the order they were recorded, listings in force
only, published sanctions only; a typical firm costs one statement."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from itertools import count

import pytest
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from registry import rules, visibility
from registry.models import Enterprise, Listing, Sanction
from registry.services import enterprises, listings, sanctions

_numbers = count(1)


@pytest.fixture
def people(make):
    return make.actor("clerk"), make.actor("reviewer")


def _licence(session, clerk, firm, status="valid", services="") -> None:
    number = f"粤B2-2026{next(_numbers):04d}"
    enterprises.add_licence(session, clerk, firm, number=number, status=status, services=services)


@pytest.fixture
def rich_firm(session, make, people):
    """A firm with three licences, two former names, listings in force decided and listed
    in different orders, one expired and one removed, and two published sanctions of the
    same day (one of a campaign) and a draft one."""
    clerk, reviewer = people
    today = rules.today()
    firm = make.enterprise(clerk, name="深圳市旧名<甲>网络科技有限公司")
    enterprises.update_enterprise(session, clerk, firm, name="深圳市新名 & 乙有限公司")
    enterprises.add_former_name(session, clerk, firm, "深圳市更早的名字有限公司")
    _licence(session, clerk, firm, "suspended", "<b>信息服务</b>")
    _licence(session, clerk, firm)
    _licence(session, clerk, firm, "expired")
    campaign = make.campaign()
    day = today - timedelta(days=20)
    for kw in ({"campaign": campaign}, {"legal_basis": "《办法》第四十二条"}):
        sanction = make.sanction(clerk, firm, decided_on=day, **kw)
        sanctions.submit_sanction(session, clerk, sanction)
        sanctions.publish_sanction(session, reviewer, sanction)
    make.sanction(clerk, firm)  # recorded, never published
    for ground, days in (("B3", 30), ("D2", 9), ("B2", 15)):
        make.published_listing(
            clerk, reviewer, ground, enterprise=firm, decided_on=today - timedelta(days=days)
        )
    expired = make.published_listing(clerk, reviewer, "B2", enterprise=firm)
    expired.expires_on = today
    removed = make.published_listing(clerk, reviewer, enterprise=firm)
    listings.remove_listing(session, reviewer, removed, "已纠正")
    session.flush()
    return firm


def api_reference(session, firm: Enterprise, base: str) -> dict:
    """The API's answer from ORM objects, as the view built it before it read rows."""
    session.expire_all()
    firm = (
        session.scalars(
            select(Enterprise)
            .where(Enterprise.id == firm.id)
            .options(joinedload(Enterprise.former_names), joinedload(Enterprise.licences))
        )
        .unique()
        .one()
    )
    in_force = session.scalars(
        visibility.public_listings(rules.today())
        .where(Listing.enterprise_id == firm.id)
        .order_by(Listing.listed_on.desc(), Listing.id.desc())
    ).all()
    published = session.scalars(
        select(Sanction)
        .where(Sanction.enterprise_id == firm.id, visibility.sanction_public())
        .order_by(Sanction.decided_on.desc(), Sanction.id.desc())
    ).all()

    def iso(value):
        return value.isoformat() if value is not None else None

    return {
        "uscc": firm.uscc,
        "name": firm.name,
        "province": firm.province_code,
        "url": f"{base}/enterprises/{firm.uscc}",
        "former_names": [former.name for former in firm.former_names],
        "licences": [
            {"number": lic.number, "services": lic.services, "status": lic.status}
            for lic in firm.licences
        ],
        "listings": [
            {
                "list": li.list_code,
                "ground": li.ground.code,
                "ground_title": li.ground.title,
                "decided_on": li.decided_on.isoformat(),
                "listed_on": iso(li.listed_on),
                "expires_on": iso(li.expires_on),
                "authority": li.authority.name,
                "authority_code": li.authority.code,
            }
            for li in in_force
        ],
        "sanctions": [
            {
                "decision_no": s.decision_no,
                "decided_on": s.decided_on.isoformat(),
                "authority": s.authority.name,
                "authority_code": s.authority.code,
                "facts": s.facts,
                "legal_basis": s.legal_basis,
                "measures": list(s.measures or []),
                "fine_amount": str(s.fine_amount) if s.fine_amount is not None else None,
                "campaign": s.campaign.name if s.campaign else "",
                "campaign_slug": s.campaign.slug if s.campaign else None,
            }
            for s in published
        ],
    }


def test_the_api_answers_what_the_orm_reads_of_the_firm(client, session, rich_firm):
    response = client.get(f"/api/v1/enterprises/{rich_firm.uscc.lower()}")
    assert response.status_code == 200
    body = response.get_json()
    assert body == api_reference(session, rich_firm, "http://localhost")
    assert len(body["licences"]) == 3 and len(body["former_names"]) == 2
    assert len(body["listings"]) == 3 and len(body["sanctions"]) == 2


def test_the_page_shows_every_licence_and_former_name_in_order(client, session, rich_firm):
    expected = api_reference(session, rich_firm, "")
    page = client.get(f"/enterprises/{rich_firm.uscc}").get_data(as_text=True)
    numbers = re.findall(r"<tr><td>(粤B2-2026\d{4})</td>", page)
    assert numbers == [lic["number"] for lic in expected["licences"]]
    assert "&lt;b&gt;信息服务&lt;/b&gt;" in page and "<b>信息服务" not in page
    assert "深圳市旧名&lt;甲&gt;网络科技有限公司；深圳市更早的名字有限公司" in page
    decided = re.findall(r"<td>(\d{4}-\d{2}-\d{2})</td>\n\s*<td>\d{4}-\d{2}-\d{2}</td>", page)
    assert decided == sorted((li["decided_on"] for li in expected["listings"]), reverse=True)
    assert page.count('<article class="sanction">') == 2


@pytest.mark.parametrize("licences", [0, 1, 2])
def test_a_firm_with_a_listing_and_licences_costs_one_statement_or_two(
    client, session, make, people, statements, licences
):
    """The firm, its listings in force and its first licence are one statement; only a
    second licence costs another (former names, sanctions, evidence, notices likewise only
    when the firm has them)."""
    clerk, reviewer = people
    firm = make.enterprise(clerk)
    for _ in range(licences):
        _licence(session, clerk, firm)
    make.published_listing(clerk, reviewer, enterprise=firm)
    session.flush()
    assert client.get("/about").status_code == 200  # warm: the catalogue
    for path in (f"/enterprises/{firm.uscc}", f"/api/v1/enterprises/{firm.uscc}"):
        statements.clear()
        response = client.get(path)
        assert response.status_code == 200
        body = response.get_data(as_text=True)
        if response.is_json:
            body = json.dumps(response.json, ensure_ascii=False)
        assert body.count("粤B2-2026") == licences
        selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        firm_reads = [s for s in selects if "sequence_counter" not in s]
        assert len(firm_reads) == (2 if licences > 1 else 1), firm_reads

"""Test data written through the services, so it obeys the same rules as real data."""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.cn import uscc as uscc_mod

from registry import rules
from registry.models import Authority, Campaign, Enterprise, Ground, ImportBatch, Listing, User
from registry.rules import Actor
from registry.services import campaigns, enterprises, import_batches, listings, sanctions
from registry.services.accounts import actor_for, create_user

_counter = itertools.count(1)
PASSWORD = "correct horse battery"


def new_uscc() -> str:
    body = f"91440300{next(_counter) + 10_000_000:09d}"[:17]
    return body + uscc_mod.calc_check_digit(body)


class Factory:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.system = Actor(None, "test", "system", self.authority("MIIT").id, True)

    def authority(self, code: str) -> Authority:
        return self.session.scalar(select(Authority).where(Authority.code == code))

    def ground(self, code: str) -> Ground:
        return self.session.scalar(select(Ground).where(Ground.code == code))

    def user(self, role: str, authority_code: str = "440000", username: str | None = None) -> User:
        name = username or f"{role}-{authority_code}-{next(_counter)}"
        return create_user(
            self.session,
            self.system,
            username=name,
            password=PASSWORD,
            authority=self.authority(authority_code),
            role=role,
        )

    def actor(self, role: str, authority_code: str = "440000") -> Actor:
        return actor_for(self.user(role, authority_code))

    def enterprise(self, actor: Actor, name: str | None = None, **values) -> Enterprise:
        n = next(_counter)
        return enterprises.create_enterprise(
            self.session,
            actor,
            name=name or f"深圳市测试{n}网络科技有限公司",
            uscc=values.pop("uscc", new_uscc()),
            province_code=values.pop("province_code", "440000"),
            **values,
        )

    def campaign(self, slug: str | None = None, **values) -> Campaign:
        n = next(_counter)
        admin = Actor(None, "test", "admin", self.authority("MIIT").id, True)
        return campaigns.save_campaign(
            self.session,
            admin,
            None,
            slug=slug or f"campaign-{n}",
            name=values.pop("name", f"测试专项行动{n}"),
            starts_on=values.pop("starts_on", date(2020, 1, 1)),
            lead_authority_id=values.pop("lead_authority_id", self.authority("MIIT").id),
            **values,
        )

    def sanction(
        self, actor: Actor, enterprise: Enterprise, measures=("fine",), decided_on=None, **kw
    ):
        return sanctions.record_sanction(
            self.session,
            actor,
            enterprise,
            decision_no=kw.pop("decision_no", None) or f"粤通管罚〔2026〕{next(_counter)}号",
            decided_on=decided_on or rules.today() - timedelta(days=5),
            measures=list(measures),
            fine_amount="10000" if "fine" in measures else None,
            facts="未按规定办理经营许可证变更手续",
            **kw,
        )

    def listing(
        self,
        actor: Actor,
        ground_code: str = "B3",
        enterprise: Enterprise | None = None,
        decided_on: date | None = None,
        **kw,
    ) -> Listing:
        return listings.create_listing(
            self.session,
            actor,
            enterprise or self.enterprise(actor),
            ground=self.ground(ground_code),
            decided_on=decided_on or rules.today() - timedelta(days=5),
            **kw,
        )

    def published_listing(
        self, clerk: Actor, reviewer: Actor, ground_code: str = "B3", **kw
    ) -> Listing:
        listing = self.listing(clerk, ground_code, **kw)
        listings.submit_listing(self.session, clerk, listing)
        return listings.publish_listing(self.session, reviewer, listing)

    def import_batch(
        self, importer: Actor, count: int = 1, ground_code: str = "B3", days_ago: int = 3
    ) -> ImportBatch:
        """`count` new firms' listings imported (submitted) by `importer` as one batch,
        through the import's own parse, validate and apply."""
        import hashlib

        from registry.imports import apply_plan, read_bytes, validate

        day = (rules.today() - timedelta(days=days_ago)).isoformat()
        lines = ["经营者名称,统一社会信用代码,名单类型,列入事由,处理日期"]
        list_name = "失信名单" if ground_code.startswith("D") else "不良名单"
        for _ in range(count):
            name = f"广州市批次{next(_counter)}网络科技有限公司"
            lines.append(f"{name},{new_uscc()},{list_name},{ground_code},{day}")
        data = ("\n".join(lines) + "\n").encode()
        authority = self.session.get(Authority, importer.authority_id)
        plan = validate(self.session, read_bytes(data, "批次.csv"), default_authority=authority)
        assert not plan.errors, [str(p) for p in plan.errors]
        batch = import_batches.open_batch(
            self.session,
            importer,
            authority,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            filename="批次.csv",
            total_rows=plan.total,
        )
        result = apply_plan(self.session, plan, batch_id=batch.id)
        problems = import_batches.report_rows(plan.problems)
        return import_batches.close_batch(self.session, importer, batch, result.as_dict(), problems)


# --- web helpers (back-office tests) ---------------------------------------------------

_CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(client) -> str:
    """A valid CSRF token for the client's current session (read from the login form)."""
    page = client.get("/admin/login").get_data(as_text=True)
    match = _CSRF_RE.search(page)
    assert match, "no CSRF token on the login page"
    return match.group(1)


def login(client, user: User, password: str = PASSWORD):
    """Log in through the real form; returns the response."""
    return client.post(
        "/admin/login",
        data={"username": user.username, "password": password, "csrf_token": csrf_token(client)},
    )


def post(client, url: str, data: dict | None = None, **kw):
    """POST with the session's CSRF token."""
    return client.post(url, data={**(data or {}), "csrf_token": csrf_token(client)}, **kw)


def publish_committed(session, name: str, uscc: str, ground: str = "B3") -> None:
    """A firm of the Guangdong bureau with one published listing, committed: for tests on a
    database of their own that other threads or processes read."""
    from registry.services import enterprises as enterprise_service
    from registry.services import listings as listing_service
    from registry.services.reference import authority_by_code, ground_by_code

    bureau = authority_by_code(session, "440000")
    clerk = Actor(None, "clerk", "clerk", bureau.id, False)
    reviewer = Actor(None, "reviewer", "reviewer", bureau.id, False)
    firm = enterprise_service.create_enterprise(
        session, clerk, name=name, uscc=uscc, province_code="440000"
    )
    listing = listing_service.create_listing(
        session,
        clerk,
        firm,
        ground=ground_by_code(session, ground),
        decided_on=rules.today(),
        facts="未按规定履行行政处罚决定",
    )
    listing_service.submit_listing(session, clerk, listing)
    listing_service.publish_listing(session, reviewer, listing)
    session.commit()


def record_sanction_committed(session, username: str, name: str, decision_no: str) -> int:
    """A draft penalty decision of `username`'s bureau on a new firm, committed; its id."""
    from registry.services import enterprises, sanctions
    from registry.services.accounts import actor_for

    clerk = actor_for(session.scalar(select(User).where(User.username == username)))
    firm = enterprises.create_enterprise(
        session, clerk, name=name, uscc=new_uscc(), province_code="440000"
    )
    sanction = sanctions.record_sanction(
        session,
        clerk,
        firm,
        decision_no=decision_no,
        decided_on=rules.today() - timedelta(days=3),
        measures=["fine"],
        fine_amount="10000",
        facts="未按规定办理经营许可证变更手续",
    )
    session.commit()
    return sanction.id

"""Real-browser fixtures: the app served on 127.0.0.1 by werkzeug in a thread (a SQLite file
migrated with Alembic, seeded, demo data loaded through the services), Debian's chromium
driven by Playwright, axe-core and the Nu HTML Checker (vnu.jar).

Outside CI a missing tool (chromium, Playwright, java, vnu.jar) skips these tests with the
reason; in CI (CI=true) it fails them, so the checks can never silently stop running.
`.ci/run` installs chromium from Debian and vnu-jar from npm into .cache/vnu.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from tests.browser.support import XSS_ATTR, XSS_SCRIPT

ROOT = Path(__file__).resolve().parents[2]
CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
CHROMIUM = Path(os.environ.get("REGISTRY_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
]
VNU_JAR = Path(
    os.environ.get("REGISTRY_VNU_JAR", ROOT / ".cache/vnu/node_modules/vnu-jar/build/dist/vnu.jar")
)
PASSWORD = "correct horse battery staple"


def missing(reason: str) -> None:
    """Skip locally, fail in CI: a browser check must not quietly stop running there."""
    if CI:
        pytest.fail(f"{reason} (CI=true: the browser suite must run)", pytrace=False)
    pytest.skip(reason)


@dataclass
class LiveServer:
    url: str
    clerk: str
    reviewer: str
    password: str
    firm_uscc: str
    notice_slug: str
    xss_uscc: str
    xss_notice_slug: str
    xss_ids: dict[str, int] = field(default_factory=dict)

    def __call__(self, path: str) -> str:
        return self.url + path


def _load_data(session) -> dict:
    """Demo data plus what the tests need: a clerk and a reviewer of 广东 with known
    passwords, and a firm, sanction, listing and notice carrying XSS payloads, published."""
    from sqlalchemy import select

    from registry import rules
    from registry.cli import system_actor
    from registry.demo import load_demo
    from registry.models import Authority, Ground, Notice
    from registry.rules import Actor
    from registry.services import campaigns, enterprises, listings, notices, sanctions
    from registry.services.accounts import actor_for, create_user

    load_demo(session, system_actor(session, label="demo"), firms=60)
    system = system_actor(session, label="browser-tests")
    gd = session.scalar(select(Authority).where(Authority.code == "440000"))
    users = {}
    for role in ("clerk", "reviewer"):
        users[role] = create_user(
            session,
            system,
            username=f"browser-{role}",
            password=PASSWORD,
            authority=gd,
            role=role,
        )
    clerk, reviewer = actor_for(users["clerk"]), actor_for(users["reviewer"])

    firm = enterprises.create_enterprise(
        session,
        clerk,
        name=f"深圳{XSS_SCRIPT}网络{XSS_ATTR}科技有限公司",
        uscc="91440300MA5XXX999M",
        province_code="440000",
        address=XSS_ATTR,
    )
    enterprises.add_former_name(session, clerk, firm, f"旧名{XSS_SCRIPT}")
    decided = rules.today() - timedelta(days=5)
    ministry = session.scalar(select(Authority).where(Authority.code == "MIIT"))
    campaign = campaigns.save_campaign(
        session,
        Actor(None, "browser-tests", "admin", ministry.id, True),
        None,
        slug="xss-campaign",
        name=f"专项{XSS_SCRIPT}",
        starts_on=decided,
        lead_authority_id=ministry.id,
        legal_basis=f"通知{XSS_ATTR}",
        description=f"说明{XSS_SCRIPT}{XSS_ATTR}",
    )
    sanction = sanctions.record_sanction(
        session,
        clerk,
        firm,
        decision_no="粤通管罚〔2026〕990号",
        decided_on=decided,
        facts=f"违法事实{XSS_SCRIPT}{XSS_ATTR}",
        legal_basis=f"依据{XSS_ATTR}",
        measures=["fine"],
        fine_amount="10000",
        campaign=campaign,
    )
    sanctions.submit_sanction(session, clerk, sanction)
    sanctions.publish_sanction(session, reviewer, sanction)
    ground = session.scalar(select(Ground).where(Ground.code == "B3"))
    listing = listings.create_listing(
        session,
        clerk,
        firm,
        ground=ground,
        decided_on=decided,
        sanction=sanction,
        facts=f"事实说明{XSS_SCRIPT}{XSS_ATTR}",
        campaign=campaign,
    )
    listings.submit_listing(session, clerk, listing)
    listings.publish_listing(session, reviewer, listing)
    notice = notices.create_notice(
        session,
        clerk,
        slug="xss-notice",
        title=f"公告{XSS_SCRIPT}{XSS_ATTR}",
        body_md=f"正文{XSS_SCRIPT}\n\n{XSS_ATTR}\n\n[链接](javascript:window.__xss=1)",
        listings=[listing],
    )
    notices.transition_notice(session, clerk, notice, "submit")
    notices.transition_notice(session, reviewer, notice, "publish")
    demo_notice = session.scalar(select(Notice).where(Notice.slug == "2019-q2-bad-conduct"))
    first_listed = demo_notice.listings[0].enterprise
    return {
        "clerk": users["clerk"].username,
        "reviewer": users["reviewer"].username,
        "firm_uscc": first_listed.uscc,
        "notice_slug": demo_notice.slug,
        "xss_uscc": firm.uscc,
        "xss_notice_slug": notice.slug,
        "xss_ids": {
            "enterprise": firm.id,
            "sanction": sanction.id,
            "listing": listing.id,
            "notice": notice.id,
            "campaign": campaign.id,
        },
    }


@pytest.fixture(scope="session")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    """The site most browser tests share, with the fixture data (XSS payloads included)."""
    with _serve(tmp_path_factory.mktemp("live")) as server:
        yield server


@pytest.fixture(scope="module")
def own_live_server(tmp_path_factory) -> Iterator[LiveServer]:
    """A site of the module's own, for a test that writes so much (a 500-row import) that the
    shared site's first pages would no longer show the fixture data other tests look for."""
    with _serve(tmp_path_factory.mktemp("own-live")) as server:
        yield server


@contextlib.contextmanager
def _serve(tmp: Path) -> Iterator[LiveServer]:
    from werkzeug.serving import make_server

    from registry import create_app
    from registry.database import get_db
    from registry.migrate import upgrade
    from registry.rules import Actor
    from registry.services.reference import seed

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "browser-test-secret-" + "x" * 40,
            "DATABASE_URL": f"sqlite:///{tmp / 'registry.db'}",
            "INDEX_DIR": str(tmp / "index"),
            "EVIDENCE_DIR": str(tmp / "evidence"),
        },
        instance_path=tmp / "instance",
    )
    db = get_db(app)
    upgrade(db.engine)
    with db.session_factory() as session:
        seed(session, Actor(None, "init", "system", 0, True))
        session.commit()
        data = _load_data(session)
        session.commit()
    from registry.web.indexing import followers, start_followers

    start_followers(app, wait=60)  # the search index follows the database, as in production
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", password=PASSWORD, **data)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        for follower in followers(app).values():
            follower.stop()
        db.engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        missing(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (pip install -e '.[test]')")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def context(browser) -> Iterator:
    context = browser.new_context(locale="zh-CN")
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context) -> Iterator:
    page = context.new_page()
    yield page
    page.close()


@pytest.fixture(scope="session")
def vnu_jar() -> Path:
    if shutil.which("java") is None:
        missing("java is not installed (the Nu HTML Checker needs Java 11+)")
    if not VNU_JAR.is_file():
        missing(
            f"vnu.jar not found at {VNU_JAR} "
            "(npm install --prefix .cache/vnu vnu-jar; .ci/run does it)"
        )
    return VNU_JAR

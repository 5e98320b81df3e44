"""Time the bulk publication of one import batch (services.bulk_review), as a reviewer does
from /admin/imports/<id>: a clerk's batch of N submitted listings (default 11,435, one 2019
quarter's announcement) published in one transaction, then the publication log verified.

Usage: .venv/bin/python bench/bulk_publish.py DATABASE_URL [N] — an empty database: it is
migrated, seeded and filled through the import (parse, validate, apply).
"""

from __future__ import annotations

import hashlib
import sys
import time
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from stdnum.cn import uscc as uscc_mod

from registry import publog, rules
from registry.db import make_engine
from registry.imports import apply_plan, read_bytes, validate
from registry.migrate import upgrade
from registry.models import Authority, Enterprise, Listing
from registry.rules import Actor
from registry.services import bulk_review, import_batches
from registry.services.accounts import actor_for, create_user
from registry.services.reference import seed


def _file(n: int) -> bytes:
    day = (rules.today() - timedelta(days=3)).isoformat()
    lines = ["经营者名称,统一社会信用代码,名单类型,列入事由,处理日期"]
    for i in range(n):
        body = f"91440300{i + 10_000_000:09d}"[:17]
        lines.append(
            f"广州市基准{i}网络科技有限公司,{body + uscc_mod.calc_check_digit(body)},不良名单,B3,{day}"
        )
    return ("\n".join(lines) + "\n").encode()


def main(url: str, n: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        system = Actor(None, "bench", "system", 0, True)
        seed(session, system)
        authority = session.scalar(select(Authority).where(Authority.code == "440000"))
        made = {
            role: create_user(
                session,
                system,
                username=f"bench-{role}",
                password="correct horse battery",
                authority=authority,
                role=role,
            )
            for role in ("clerk", "reviewer")
        }
        session.commit()
        clerk, reviewer = actor_for(made["clerk"]), actor_for(made["reviewer"])
        data = _file(n)
        started = time.perf_counter()
        plan = validate(session, read_bytes(data, "bench.csv"), default_authority=authority)
        batch = import_batches.open_batch(
            session,
            clerk,
            authority,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            filename="bench.csv",
            total_rows=plan.total,
        )
        result = apply_plan(session, plan, batch_id=batch.id)
        import_batches.close_batch(session, clerk, batch, result.as_dict(), [])
        session.commit()
        print(f"import of {n} rows: {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        chosen = list(
            session.scalars(
                select(Listing)
                .options(
                    joinedload(Listing.enterprise).selectinload(Enterprise.licences),
                    joinedload(Listing.ground),
                    joinedload(Listing.authority),
                    joinedload(Listing.sanction),
                )
                .where(Listing.import_batch_id == batch.id, Listing.state == "submitted")
                .order_by(Listing.id)
            ).unique()
        )
        done = bulk_review.bulk_review(session, reviewer, chosen, "publish")
        session.commit()
        print(f"bulk publication of {done} listings: {time.perf_counter() - started:.1f} s")
        count, problems = publog.verify(session)
        print(f"publication log: {count} entries, {len(problems)} problems")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 11_435)

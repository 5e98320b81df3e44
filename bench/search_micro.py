"""Micro-benchmark of the name search: Whoosh-only (before) against the bitmap layer (after).

Usage (an instance filled through ``registry import`` of ``fakedata`` at 100k firms)::

    REGISTRY_INSTANCE_PATH=/tmp/p9/inst REGISTRY_SECRET_KEY=... \\
        .venv/bin/python bench/search_micro.py [--runs 15] [--before COMMIT]

It rebuilds a search index from that database through ``registry.search``'s rebuild path
(into a temporary directory), then for each query times, with the result cache cleared,
one call of ``search(q)`` (total, facets, first page of 20): the current engine, and the
engine of commit ``--before`` (the Whoosh-only engine, loaded from git). It checks every
hit of the current engine against a plain Python substring check of the normalised names
(current and former) of the firms in force, and prints the bitmap memory and the RSS.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ["腾讯", "网络", "计算机系", "科技有限", "有限公司"]
BEFORE = "488ae6f"  # the last commit whose engine had no bitmaps


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def load_engine_at(commit: str):
    """registry/search/engine.py as it was at `commit`, as a module."""
    source = subprocess.run(
        ["git", "show", f"{commit}:registry/search/engine.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    spec = importlib.util.spec_from_loader("registry.search._engine_before", loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    exec(compile(source, f"{commit}:engine.py", "exec"), module.__dict__)
    return module


def timed(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--before", default=BEFORE)
    args = parser.parse_args()

    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from registry import create_app, rules, text
    from registry.database import get_db
    from registry.models import Enterprise
    from registry.search import SearchIndex, documents

    app = create_app()
    with app.app_context(), get_db(app).session_factory() as session:
        workdir = Path(tempfile.mkdtemp(prefix="search-micro-"))
        index = SearchIndex(workdir / "index")
        start = time.perf_counter()
        firms = index.rebuild(session)
        print(f"rebuild: {firms} firms in {time.perf_counter() - start:.1f} s")
        ids = set(documents.indexable_ids(session, rules.today()))
        names: dict[int, list[str]] = {}
        for firm in session.scalars(
            select(Enterprise).options(selectinload(Enterprise.former_names))
        ):
            if firm.id in ids:
                names[firm.id] = [text.normalize(firm.name)] + [
                    text.normalize(f.name) for f in firm.former_names
                ]
    # 腾讯 itself is excluded from the fictional names: take a bigram with about as many hits
    grams = Counter(
        g for ns in names.values() for g in {n[i : i + 2] for n in ns for i in range(len(n) - 1)}
    )
    rare = min(grams, key=lambda g: (abs(grams[g] - 81), g))
    queries = [rare if q == "腾讯" and not grams["腾讯"] else q for q in QUERIES]

    rss0 = rss_mb()
    start = time.perf_counter()
    state = index.bitmaps()
    load = time.perf_counter() - start
    rss1 = rss_mb()
    memory = state.memory()
    print(
        f"bitmaps: load {load:.1f} s, {memory['bitmap_count']} bitmaps ≈ "
        f"{memory['bitmaps'] / 1e6:.1f} MB, names {memory['names'] / 1e6:.1f} MB, "
        f"RSS +{rss1 - rss0:.0f} MB → {rss1:.0f} MB"
    )
    before = load_engine_at(args.before).SearchIndex(index.root)

    def run_after(q):
        index._cache.clear()
        return index.search(q)

    def run_before(q):
        before._cache.clear()
        return before.search(q)

    print("| query | hits | before ms | after ms | speed-up | recall | precision |")
    print("|---|---|---|---|---|---|---|")
    for q in queries:
        truth = {fid for fid, ns in names.items() if any(q in n for n in ns)}
        after_ms, result = timed(lambda q=q: run_after(q), args.runs)
        before_ms, old = timed(lambda q=q: run_before(q), max(3, args.runs // 5))
        found: set[int] = set()
        page = 1
        while True:
            part = index.search(q, page=page, per_page=100)
            found |= {hit.enterprise_id for hit in part.hits}
            if page >= part.pages:
                break
            page += 1
        assert old.total == result.total, (q, old.total, result.total)
        recall = len(found & truth) / len(truth) if truth else 1.0
        precision = len(found & truth) / len(found) if found else 1.0
        print(
            f"| {q} | {result.total} | {before_ms:.1f} | {after_ms:.2f} | "
            f"{before_ms / after_ms:.0f}× | {recall:.0%} | {precision:.0%} |"
        )
    print(f"RSS at the end: {rss_mb():.0f} MB")


if __name__ == "__main__":
    os.environ.setdefault("REGISTRY_INSTANCE_PATH", str(ROOT / "instance"))
    main()

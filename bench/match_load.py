"""The screening workload of `make bench`: distinct 100-query batches POSTed to
/api/v1/match, one at a time, each timed from the request to the last byte of the answer.

The queries are written from the names of the firms the bench's server publishes (its
bench.db), with the evaluation set's kinds (registry.screening.evaluation): the variants
of registered names (traditional characters, full-width forms, brackets, legal form
dropped or changed, region dropped, branch added, an industry character changed) and the
names of other firms that match nothing registered (a trade-name character changed, the
same name in another city), mixed in every batch. No query is asked twice.
"""

from __future__ import annotations

import json
import random
import sqlite3
import statistics
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from registry.screening import evaluation

SIZE = 100  # queries per batch: the API's maximum
TARGET_P50_MS = 200.0


def batches(db_path: Path, count: int, seed: int = 11) -> list[list[evaluation.Case]]:
    """`count` batches of SIZE distinct queries, every kind in each."""
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT name, uscc, province FROM firms ORDER BY id").fetchall()
    firms = [{"name": n, "uscc": u or "", "province": p or "", "licences": ""} for n, u, p in rows]
    kinds = len(evaluation.POSITIVE_KINDS) + len(evaluation.NEGATIVE_KINDS)
    per_kind = count * SIZE // kinds + SIZE
    seen: set[str] = set()
    cases = []
    for case in evaluation.cases(firms, per_kind=per_kind, seed=seed):
        if case.query.name not in seen:
            seen.add(case.query.name)
            cases.append(case)
    random.Random(seed).shuffle(cases)
    made = [cases[i * SIZE : (i + 1) * SIZE] for i in range(count)]
    return [batch for batch in made if len(batch) == SIZE]


def body(batch: list[evaluation.Case]) -> bytes:
    queries = {f"q{i}": {"name": case.query.name} for i, case in enumerate(batch)}
    return json.dumps({"queries": queries}, ensure_ascii=False).encode()


def post(base: str, data: bytes) -> tuple[int, float, dict[str, Any] | None]:
    """Status, milliseconds to the answer's last byte, and the answer when it is JSON."""
    request = urllib.request.Request(
        base + "/api/v1/match",
        data=data,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    ms = (time.perf_counter() - started) * 1000
    try:
        return status, ms, json.loads(raw)
    except ValueError:
        return status, ms, None


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def drive(base: str, work: list[list[evaluation.Case]]) -> dict[str, Any]:
    """Send the batches one after the other; timings, errors and what was flagged (a check
    that the answers are real: the variants' firms found, the other names not)."""
    times: list[float] = []
    errors = found = positives = wrong = 0
    for batch in work:
        status, ms, answer = post(base, body(batch))
        times.append(ms)
        if status != 200 or answer is None:
            errors += 1
            continue
        for i, case in enumerate(batch):
            flagged = {r["uscc"] for r in answer["responses"][f"q{i}"]["results"] if r["match"]}
            positives += bool(case.firm)
            found += case.firm in flagged
            wrong += len(flagged - case.acceptable)
    return {
        "batches": len(times),
        "queries": len(times) * SIZE,
        "p50_ms": round(statistics.median(times), 1) if times else None,
        "p99_ms": round(percentile(times, 0.99), 1) if times else None,
        "max_ms": round(max(times), 1) if times else None,
        "errors": errors,
        "recall": round(found / positives, 4) if positives else None,
        "wrong_flags": wrong,
    }


def verdict(result: dict[str, Any]) -> bool:
    return (
        result["errors"] == 0 and result["p50_ms"] is not None and result["p50_ms"] < TARGET_P50_MS
    )

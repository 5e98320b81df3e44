"""Micro-benchmark of screening: 100-query batches over generated firms.

Usage::

    .venv/bin/python bench/match_micro.py [--firms 100000] [--batches 20]

Builds the candidate bitmaps (the search layer's `Bitmaps`, through
``registry.search.matching.MemoryCandidates``) over ``fakedata.firms(N)``, then times
batches of 100 queries written from registered names with the evaluation set's variants
(registry.screening.evaluation), as POST /api/v1/match runs them minus HTTP, JSON and
the one database query for lists in force. Prints p50 and p99 per batch, in ms, wall clock and
this process's CPU time (the second is less disturbed by a busy machine).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from registry.screening import evaluation
from registry.screening.screen import match_one
from registry.search.matching import MemoryCandidates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, default=100_000, help="firms generated (100000)")
    parser.add_argument("--batches", type=int, default=20, help="batches of 100 timed (20)")
    args = parser.parse_args()
    start = time.perf_counter()
    firms = evaluation.registered(args.firms)
    source = MemoryCandidates(firms)
    print(f"{args.firms} firms loaded in {time.perf_counter() - start:.1f} s")
    cases = evaluation.cases(firms, per_kind=max(1, args.batches * 100 // 10))
    random.Random(1).shuffle(cases)  # batches mix every kind of query
    queries = [c.query for c in cases]
    match_one(source, queries[0])  # first use: lazy tables
    times, cpu = [], []
    for b in range(args.batches):
        batch = queries[b * 100 : (b + 1) * 100]
        if len(batch) < 100:
            break
        start, start_cpu = time.perf_counter(), time.process_time()
        for query in batch:
            match_one(source, query)
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    for name, values in (("wall", times), ("cpu", cpu)):
        values.sort()
        p99 = values[min(len(values) - 1, round(0.99 * (len(values) - 1)))]
        median = statistics.median(values)
        print(f"{len(values)} batches of 100 ({name}): p50 {median:.0f} ms, p99 {p99:.0f} ms")


if __name__ == "__main__":
    main()

"""CPU time per request of the long-tail workloads, in one process (Flask's test client).

`make bench` measures through gunicorn and wrk, which a shared machine disturbs: req/s moves
with whatever else runs. This measures the CPU time our code spends per request (process
time, not wall time) over the path lists the last `BENCH_ONLY=long_tail` run wrote to
bench/out/wrk/, and the same for a hello-world Flask app; it is what the before/after
figures of docs/PERFORMANCE.md compare.

    .venv/bin/python bench/long_tail_cpu.py [CODE_DIR] [INSTANCE_DIR]

CODE_DIR (default: this checkout) may be an export of another commit (`git archive`) to
compare; INSTANCE_DIR defaults to bench/out/instance. BENCH_CPU_REQUESTS (default 550)
requests per workload after 50 unmeasured ones, from path 5,000 of each list on.
BENCH_CPU_WORKLOADS (comma-separated) picks some of them.

`distinct_firm_api` is `/api/v1/enterprises/<uscc>` over the firms of `distinct_firm_page`,
on an app with the public cache off (PUBLIC_CACHE=false): the API's own work for a firm.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = (
    "distinct_search_page",
    "distinct_search_api",
    "distinct_firm_page",
    "cold_feed",
    "zipf_search_page",
    "distinct_firm_api",
)
# Workloads whose paths are another's, rewritten, and that run without the public cache.
DERIVED = {"distinct_firm_api": ("distinct_firm_page", "/enterprises/", "/api/v1/enterprises/")}


def measure(client, paths: list[str], warm: int = 50) -> float:
    """Milliseconds of CPU per request over paths[warm:]."""
    for path in paths[:warm]:
        client.get(path)
    started = time.process_time()
    for path in paths[warm:]:
        status = client.get(path).status_code
        if status not in (200, 404):
            raise SystemExit(f"{path}: {status}")
    return (time.process_time() - started) / (len(paths) - warm) * 1000


def main() -> None:
    code = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    instance = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "bench" / "out" / "instance"
    sys.path.insert(0, str(code))
    os.environ["REGISTRY_INSTANCE_PATH"] = str(instance)
    import flask

    from registry import create_app
    from registry.web.indexing import start_followers

    app = create_app()
    start_followers(app, wait=60)
    uncached = create_app({"PUBLIC_CACHE": False})
    hello = flask.Flask("hello")
    hello.get("/")(lambda: "Hello, World!")
    count = int(os.environ.get("BENCH_CPU_REQUESTS") or 550) + 50
    hello_ms = measure(hello.test_client(), ["/"] * 3000)
    out: dict[str, object] = {"hello_ms": round(hello_ms, 3)}
    client, uncached_client = app.test_client(), uncached.test_client()
    chosen = os.environ.get("BENCH_CPU_WORKLOADS")
    for name in chosen.split(",") if chosen else WORKLOADS:
        source, old, new = DERIVED.get(name, (name, "", ""))
        listing = ROOT / "bench" / "out" / "wrk" / f"{source}.paths"
        paths = listing.read_text().split("\n")[5000 : 5000 + count]
        if old:
            paths = [path.replace(old, new, 1) for path in paths]
        ms = measure(uncached_client if name in DERIVED else client, paths)
        out[name] = {"cpu_ms": round(ms, 2), "hello_ratio": round(hello_ms / ms, 3)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""Instructions per request of a long-tail workload, counted by callgrind.

CPU time moves with whatever else runs on a shared machine (caches, frequency, the other
jobs); the number of instructions a request executes does not. This serves N paths of a
long-tail path list (bench/out/wrk/WORKLOAD.paths, from path 5,000 on) through the app's
WSGI stack, the public cache included, with callgrind's counting switched on only around
them:

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=OUT \\
        .venv/bin/python bench/requests_under_callgrind.py WORKLOAD [CODE_DIR] [INSTANCE_DIR]

then instructions per request = the "Collected" total valgrind prints ÷ N. CODE_DIR
(default: this checkout) may be an export of another commit (`git archive`) to compare;
INSTANCE_DIR defaults to bench/out/instance. BENCH_CG_REQUESTS (default 200) is N. Loading
the instance under valgrind takes a few minutes at 100,000 firms.

The followers' threads are stopped after the warm-up (use an instance whose followers are
caught up): their polling is no request's work, and what it adds grows with the run's wall
time, which a loaded machine stretches (a fifth of the search page's count in one run).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def environ(path: str) -> dict[str, Any]:
    """A GET as gunicorn would hand it to the app, without a cookie (a public visitor)."""
    route, _, query = path.partition("?")
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": route,
        "QUERY_STRING": query,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "wrk",
        "HTTP_ACCEPT": "*/*",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def serve(app: Any, paths: list[str]) -> None:
    def start_response(status: str, headers: list, exc_info: Any = None) -> Any:
        return lambda data: None

    for path in paths:
        answer = app.wsgi_app(environ(path), start_response)
        b"".join(answer)
        close = getattr(answer, "close", None)
        if close is not None:
            close()


def main() -> None:
    workload = sys.argv[1]
    code = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT
    instance = Path(sys.argv[3]) if len(sys.argv) > 3 else ROOT / "bench" / "out" / "instance"
    sys.path.insert(0, str(code))
    os.environ["REGISTRY_INSTANCE_PATH"] = str(instance)
    from registry import create_app
    from registry.web.indexing import followers, start_followers

    app = create_app()
    start_followers(app, wait=600)
    count = int(os.environ.get("BENCH_CG_REQUESTS") or 200)
    listing = ROOT / "bench" / "out" / "wrk" / f"{workload}.paths"
    paths = [p for p in listing.read_text().split("\n")[5000 : 5000 + count + 50] if p]
    serve(app, paths[count:])  # warm-up: other paths of the same kind, not counted
    for follower in followers(app).values():
        follower.stop()
    me = str(os.getpid())
    subprocess.run(["callgrind_control", "-i", "on", me], check=True, capture_output=True)
    serve(app, paths[:count])
    subprocess.run(["callgrind_control", "-i", "off", me], check=True, capture_output=True)
    print(f"{workload}: {count} requests counted")


if __name__ == "__main__":
    main()

"""`make bench`: our registry against the limit (hello-world Flask) and the peer (Datasette).

One run, one machine, side by side (the machines are shared and noisy, so the verdicts are
ratios measured in the same run):

1. data: ``registry.fakedata`` firms and listings (BENCH_FIRMS, default 100,000) as import
   CSVs: every listing, and the first 11,435 B1 (missing annual report) rows, the size of
   the 2019 quarter;
2. our instances (fresh REGISTRY_INSTANCE_PATH under bench/out/): ``registry init``, a
   reviewer, ``registry import FILE --authority MIIT --publish-as`` timed (the 11,435-row
   batch in its own instance, with the search index catch-up that follows a commit; the
   whole file into an empty instance of its own, the target; then the whole file into the
   quarter's instance, whose rows it finds unchanged; with BENCH_PROFILE the first two
   sampled from outside by py-spy, without stopping them), ``registry reindex`` timed;
3. Datasette's database: the same published rows (``registry export``) in SQLite with an
   FTS5 trigram index on the firm names;
4. servers on 127.0.0.1 only: ours and hello-world under gunicorn (2 sync workers),
   Datasette (immutable, facets off); each workload driven by wrk (8 connections,
   BENCH_DURATION seconds, default 10) with one generated Lua script per workload;
   requests/s, p50, p99, peak RSS per worker (VmHWM, reset before each workload); each
   long-tail workload between two runs of hello-world on a server kept up beside ours, its
   ratio to their mean;
5. recall and precision of our /api/v1/search and of Datasette's FTS against SQL ``LIKE``
   on the same rows, for queries of 2, 3 and 4 characters;
6. docs/PERFORMANCE.md (table, machine, versions, command, ratios, targets met/missed) and
   bench/out/results.json. With BENCH_PROFILE=1 (default) every workload of ours that
   misses its target is run again under py-spy; the hottest frames of our code are written
   to bench/out/profiles/ and summarised in the results;
7. screening: distinct 100-query batches POSTed to /api/v1/match one at a time
   (bench/match_load.py, BENCH_MATCH_BATCHES, default 50), p50 and p99 per batch against
   the target p50 < 200 ms; under py-spy again when it misses.

BENCH_ONLY=scale (``make bench-scale BENCH_FIRMS=1000000``): steps 1-3 and the search
workloads without the cache, each step's time, CPU and memory, into bench/out/scale-N/; its
figures go into the "Scale" section of docs/PERFORMANCE.md beside those of the other firm
counts measured in that mode (run it at 100,000 first).

BENCH_REUSE=1 skips steps 1-2 and serves the instance of the previous run (development).
Everything it writes, except docs/PERFORMANCE.md, stays in bench/out/ (git-ignored).
"""

from __future__ import annotations

import csv
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import match_load  # noqa: E402 - bench/, beside this script

from registry import fakedata, rules  # noqa: E402
from registry.imports.parse import MAX_ROWS  # noqa: E402

BIN = Path(sys.executable).parent
FIRMS = int(os.environ.get("BENCH_FIRMS") or 100_000)
SCALES = ROOT / "bench" / "out"  # scale-N.json of every firm count measured in that mode
OUT = Path(
    os.environ.get("BENCH_OUT")
    or (SCALES / f"scale-{FIRMS}" if os.environ.get("BENCH_ONLY") == "scale" else SCALES)
)
DURATION = int(os.environ.get("BENCH_DURATION") or 10)
CONNECTIONS = 8
WORKERS = 2
B1_ROWS = 11_435
RECALL_CAP = int(os.environ.get("BENCH_RECALL_CAP") or 100_000)
LONG_TAIL = int(os.environ.get("BENCH_LONG_TAIL") or 30_000)
ZIPF_REQUESTS = 200_000
# BENCH_ONLY=long_tail: hello-world and the long-tail workloads only (development); the
# report then goes to bench/out/long_tail.md, docs/PERFORMANCE.md is left as it is.
# BENCH_ONLY=match: the screening batches only, reported in bench/out/match.md.
# BENCH_ONLY=scale: data, import, reindex and uncached search at BENCH_FIRMS, in
# bench/out/scale-N/, reported in the "Scale" section of docs/PERFORMANCE.md.
ONLY = os.environ.get("BENCH_ONLY", "")
MATCH_BATCHES = int(os.environ.get("BENCH_MATCH_BATCHES") or 50)
MATCH_WARM = 10
REUSE = os.environ.get("BENCH_REUSE", "") not in ("0", "", "no", "false")
PROFILE = os.environ.get("BENCH_PROFILE", "1") not in ("0", "", "no", "false")
REPORT = Path(os.environ.get("BENCH_REPORT") or ROOT / "docs" / "PERFORMANCE.md")
REVIEWER = "bench-reviewer"
PASSWORD = "bench-password-not-secret-0123456789"
BROAD = ("计算机系", "有限公司")
CJK = re.compile(r"^[\u4e00-\u9fff]+$")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- processes ------------------------------------------------------------------------------


def clean_env(instance: Path | None = None) -> dict[str, str]:
    """The environment without any REGISTRY_* setting of the caller's own instance."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    if instance is not None:
        env["REGISTRY_INSTANCE_PATH"] = str(instance)
    return env


def memory_tree(proc: Any) -> tuple[int, int]:
    """(sum of RSS, sum of PSS) over the process and its children. A forked child's
    copy-on-write pages are resident in both processes: the RSS sum counts them twice, the
    PSS sum (each shared page divided among the processes that map it) once."""
    rss = pss = 0
    for p in [proc, *proc.children(recursive=True)]:
        with suppress(Exception):  # exited between listing and reading
            if p.name() != "py-spy":  # the profiler watching it
                info = p.memory_full_info()
                rss += info.rss
                pss += info.pss
    return rss, pss


def timed(args: list[str], env: dict[str, str], stdin: str | None = None) -> dict[str, Any]:
    """Run a command to completion; wall time, peak resident memory (the sums of RSS and
    of PSS over the command and its children), its output."""
    import psutil

    started = time.perf_counter()
    proc = subprocess.Popen(
        args,
        env=env,
        cwd=ROOT,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = peak_pss = 0
    watched = psutil.Process(proc.pid)
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak, peak_pss
        while not stop.is_set():
            try:
                rss, pss = memory_tree(watched)
            except Exception:
                return
            peak, peak_pss = max(peak, rss), max(peak_pss, pss)
            stop.wait(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out, err = proc.communicate(stdin)
    stop.set()
    watcher.join()
    seconds = time.perf_counter() - started
    # User and system time of the command and the children it waited for (the forked
    # index builder): steady when other jobs share the machine, unlike the wall time.
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (children.ru_utime - children_before.ru_utime) + (
        children.ru_stime - children_before.ru_stime
    )
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{out}\n{err[-4000:]}")
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "peak_rss_mb": round(peak / 2**20, 1),
        "peak_pss_mb": round(peak_pss / 2**20, 1),
        "output": out,
        "errors": err,
    }


# A fresh worker loads the index's bitmaps before it answers: about 10 s of CPU at 1,000,000
# firms, several times that on a loaded machine. Neither the wait for the first answer nor
# gunicorn's worker timeout may end a start that is only slow.
READY_SECONDS = 120 + FIRMS // 2500


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def get_json(url: str) -> Any:
    status, _, body = get(url)
    if status != 200:
        raise RuntimeError(f"GET {url} -> {status}: {body[:300]!r}")
    return json.loads(body)


class Server:
    """A server on 127.0.0.1 started by the benchmark, stopped by its process id."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], port: int) -> None:
        self.name, self.port = name, port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = OUT / f"{name}.log"
        self.log_file = open(self.log_path, "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=self.log_file, stderr=subprocess.STDOUT
        )

    def wait_ready(self, path: str = "/", timeout: float | None = None) -> None:
        timeout = timeout or READY_SECONDS
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.base + path, timeout=5):
                    return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.3)
        raise SystemExit(f"{self.name} did not answer on {self.base} within {timeout} s")

    def workers(self) -> list[int]:
        """gunicorn: the worker processes; a single-process server: itself."""
        import psutil

        children = psutil.Process(self.proc.pid).children()
        return [c.pid for c in children] or [self.proc.pid]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()


@contextmanager
def serving(server: Server, ready_path: str = "/"):
    try:
        server.wait_ready(ready_path)
        yield server
    finally:
        server.stop()


def empty_shared_cache(env: dict[str, str]) -> None:
    """Every server of ours starts with an empty cache: the file its workers share
    (PUBLIC_CACHE_FILE) outlives them, and would hand one workload's answers to the next."""
    instance = env.get("REGISTRY_INSTANCE_PATH")
    file = env.get("REGISTRY_PUBLIC_CACHE_FILE") or (
        str(Path(instance) / "public-cache.sqlite") if instance else ""
    )
    if file:
        for suffix in ("", "-wal", "-shm", "-keys"):
            Path(file + suffix).unlink(missing_ok=True)


def gunicorn(name: str, app: str, env: dict[str, str], chdir: Path | None = None) -> Server:
    empty_shared_cache(env)
    port = free_port()
    args = [str(BIN / "gunicorn"), "-w", str(WORKERS), "-k", "sync"]
    args += ["-b", f"127.0.0.1:{port}", "--timeout", str(READY_SECONDS), "--log-level", "warning"]
    if chdir is not None:
        args += ["--chdir", str(chdir)]
    return Server(name, [*args, app], env, port)


# --- memory of the workers ------------------------------------------------------------------


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes have used so far."""
    import psutil

    total = 0.0
    for pid in pids:
        with suppress(Exception):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


def reset_peak(pids: list[int]) -> None:
    """Reset VmHWM (peak resident set) so the next reading is this workload's peak."""
    for pid in pids:
        with suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss_mb(pids: list[int]) -> float | None:
    peaks = []
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
        if found:
            peaks.append(int(found.group(1)) / 1024)
    return round(max(peaks), 1) if peaks else None


# The end of every wrk script: the run's figures as one JSON line the bench reads.
LUA_DONE = """done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {{"requests": %d, "duration_us": %d, "bytes": %d, "status_errors": %d, ' ..
    '"socket_errors": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}}\\n',
    summary.requests, summary.duration, summary.bytes, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""

# --- load -----------------------------------------------------------------------------------

LUA = (
    """-- generated by bench/run.py for the workload {name!r}; do not edit
local paths = {{
{paths}
}}
local headers = {headers}
local i = 0

init = function(args)
  math.randomseed(os.time() + tonumber(tostring({{}}):sub(8), 16))
  i = math.random(#paths)
end

request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], headers)
end

"""
    + LUA_DONE
)


LUA_FILE = (
    """-- generated by bench/run.py for the workload {name!r}; do not edit
-- The paths are read from a file, one a line. Thread k of n starts at k/n of the list
-- and walks on: distinct paths are each requested once until a thread reaches the next
-- thread's start (the report says when a run went that far).
local paths = {{}}
for line in io.lines({file}) do paths[#paths + 1] = line end
local started = 0
local i = 0

setup = function(thread)
  thread:set("id", started)
  started = started + 1
end

init = function(args)
  i = math.floor(#paths * id / {threads})
end

request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end

"""
    + LUA_DONE
)
WRK_THREADS = 2


def quoted(path: str) -> str:
    return urllib.parse.quote(path, safe="/?=&%-_.~")


def lua_file_script(name: str, paths: list[str]) -> Path:
    """A script that reads its paths from a file: 30,000 or 200,000 of them."""
    folder = OUT / "wrk"
    folder.mkdir(parents=True, exist_ok=True)
    listing = folder / f"{name}.paths"
    listing.write_text("".join(quoted(p) + "\n" for p in paths))
    script = folder / f"{name}.lua"
    script.write_text(
        LUA_FILE.format(name=name, file=json.dumps(str(listing)), threads=WRK_THREADS)
    )
    return script


def lua_script(name: str, paths: list[str], headers: dict[str, str] | None) -> Path:
    quoted = [urllib.parse.quote(p, safe="/?=&%-_.~") for p in paths]
    body = LUA.format(
        name=name,
        paths="\n".join(f"  {json.dumps(p)}," for p in quoted),
        headers="{"
        + ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in (headers or {}).items())
        + "}",
    )
    path = OUT / "wrk" / f"{name}.lua"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    return path


def wrk(
    server: Server,
    name: str,
    paths: list[str],
    headers: dict[str, str] | None = None,
    duration: int = DURATION,
    script: Path | None = None,
) -> dict[str, Any]:
    script = script or lua_script(name, paths, headers)
    pids = server.workers()
    reset_peak(pids)
    cpu_before = cpu_seconds(pids)
    args = ["wrk", "-t", str(WRK_THREADS), "-c", str(CONNECTIONS), "-d", f"{duration}s"]
    args += ["--latency"]
    args += ["--timeout", "30s", "-s", str(script), server.base]
    run = subprocess.run(args, capture_output=True, text=True, check=True)
    found = re.search(r"^WRKJSON (.*)$", run.stdout, re.M)
    if not found:
        raise SystemExit(f"wrk gave no summary for {name}:\n{run.stdout}\n{run.stderr}")
    raw = json.loads(found.group(1))
    seconds = raw["duration_us"] / 1e6
    cpu = cpu_seconds(pids) - cpu_before
    result = {
        "server": server.name,
        "workload": name,
        "path": paths[0],
        "paths": len(paths),
        "headers": headers or {},
        "requests": raw["requests"],
        "rps": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p90_ms": round(raw["p90_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 2),
        "kb_per_request": round(raw["bytes"] / max(raw["requests"], 1) / 1024, 1),
        "status_errors": raw["status_errors"],
        "socket_errors": raw["socket_errors"],
        "peak_rss_mb": peak_rss_mb(pids),
        # CPU time of the server's workers per request: unlike req/s, it hardly moves when
        # other jobs share the machine.
        "cpu_ms": round(cpu * 1000 / raw["requests"], 3) if raw["requests"] else None,
    }
    log(
        f"{server.name:9} {name:22} {result['rps']:9.1f} req/s  p50 {result['p50_ms']:8.2f} ms  "
        f"p99 {result['p99_ms']:8.2f} ms  rss {result['peak_rss_mb']} MB"
        + (f"  NON-2xx/3xx {raw['status_errors']}" if raw["status_errors"] else "")
    )
    return result


def warm(server: Server, name: str, paths: list[str], headers: dict[str, str] | None) -> None:
    """Two seconds of the workload, not measured: sequential warm-up requests all went to
    one worker, and the other met its first requests inside the measured run."""
    script = lua_script(f"warm-{name}", paths, headers)
    args = ["wrk", "-t", "2", "-c", str(CONNECTIONS), "-d", "2s", "-s", str(script), server.base]
    subprocess.run(args, capture_output=True, text=True, check=True)


@contextmanager
def spying(server: Server, name: str):
    """py-spy on every worker while the block runs; yields the list that holds, once the
    block is over, the hottest frames of our code (`hottest`)."""
    folder = OUT / "profiles"
    folder.mkdir(exist_ok=True)
    spies = []
    for pid in server.workers():
        raw = folder / f"{name}.{pid}.raw"
        args = [str(BIN / "py-spy"), "record", "--pid", str(pid), "-r", "200", "-f", "raw"]
        args += ["-o", str(raw), "--nonblocking"]
        spy = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        spies.append((raw, spy))
    found: list[dict[str, Any]] = []
    try:
        yield found
    finally:
        for _, spy in spies:
            spy.send_signal(signal.SIGINT)  # py-spy writes its samples and exits
        for _, spy in spies:
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()
    found.append(hottest(name, [raw for raw, _ in spies]))


def profile(server: Server, name: str, paths: list[str], headers: dict[str, str] | None) -> dict:
    """The workload again with py-spy on every worker: where our code spends the time."""
    script = lua_file_script(f"{name}-profiled", paths) if len(paths) > 1000 else None
    with spying(server, name) as found:
        wrk(server, f"{name}-profiled", paths, headers, script=script)
    return found[0]


def hottest(name: str, raws: list[Path]) -> dict[str, Any]:
    """Where py-spy's samples fall: our functions (inclusive share) and, at the leaves, the
    libraries doing the work (self share by package)."""
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for raw in raws:
        if not raw.exists():
            continue
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = stack.split(";")
            functions = {re.sub(r":\d+\)$", ")", frame) for frame in frames}
            for function in functions:
                if "registry/" in function and "(registry)" not in function:
                    inclusive[function] += n
            leaf = re.search(r"\(([^)]*?)(?::\d+)?\)$", frames[-1])
            path = leaf.group(1) if leaf else frames[-1]
            package = path.split("site-packages/")[-1].split("/")[0] if path else "?"
            leaves[package.removesuffix(".py")] += n
    top = [{"share": round(n / total, 3), "frame": frame} for frame, n in inclusive.most_common(25)]
    libraries = [
        {"share": round(n / total, 3), "package": package} for package, n in leaves.most_common(8)
    ]
    folder = OUT / "profiles"
    folder.mkdir(exist_ok=True)
    result = {"samples": total, "top": top, "leaves": libraries}
    (folder / f"{name}.json").write_text(json.dumps(result, ensure_ascii=False, indent=1))
    return result


# --- data -----------------------------------------------------------------------------------


def make_data() -> dict[str, Any]:
    started, cpu = time.perf_counter(), time.process_time()
    firms = fakedata.firms(FIRMS)
    listings = fakedata.listings(firms)
    b1 = [item for item in listings if item.ground_code == "B1"][:B1_ROWS]
    rows_all = fakedata.write_csv(OUT / "listings-all.csv", listings)
    rows_b1 = fakedata.write_csv(OUT / "listings-b1.csv", b1)
    # The importer takes at most MAX_ROWS rows a file: more are imported as consecutive parts.
    parts = []
    if rows_all > MAX_ROWS:
        for number, start in enumerate(range(0, len(listings), MAX_ROWS), 1):
            part = OUT / f"listings-all-{number}.csv"
            fakedata.write_csv(part, listings[start : start + MAX_ROWS])
            parts.append(part.name)
    seconds = time.perf_counter() - started
    log(f"data: {FIRMS} firms, {rows_all} listings, {rows_b1} B1 rows ({seconds:.1f} s)")
    return {
        "firms": FIRMS,
        "listings": rows_all,
        "b1_rows": rows_b1,
        "parts": parts,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
    }


def make_instance(name: str) -> tuple[Path, dict[str, str]]:
    instance = OUT / name
    shutil.rmtree(instance, ignore_errors=True)
    env = clean_env(instance)
    timed([str(BIN / "registry"), "init"], env)
    timed(
        [str(BIN / "registry"), "user", "create", REVIEWER, "--authority", "MIIT"]
        + ["--role", "reviewer", "--password-stdin"],
        env,
        stdin=PASSWORD + "\n",
    )
    return instance, env


CATCH_UP = """
import json, time
from registry import create_app
from registry.database import get_db
from registry.web.indexing import get_index
app = create_app()
started = time.perf_counter()
with app.app_context(), get_db(app).session_factory() as session:
    firms = get_index(app).catch_up(session)
print(json.dumps({"firms": firms, "seconds": time.perf_counter() - started}))
"""


# The open-data files (CSV, JSON, XLSX of the listings in force) are derived work the import
# command leaves to the serving processes' follower: built here, timed as a row of its own.
OPEN_DATA = """
import json, time
from registry import create_app
from registry.web.data import FOLLOWER
from registry.web.indexing import followers
app = create_app()
started = time.perf_counter()
with app.app_context():
    built = followers(app)[FOLLOWER].run_once(foreground=True)
print(json.dumps({"built": built, "seconds": time.perf_counter() - started}))
"""


def build_open_data(env: dict[str, str]) -> dict[str, Any]:
    run = timed([sys.executable, "-c", OPEN_DATA], env)
    built = json.loads(run["output"].strip().splitlines()[-1])
    if not built["built"]:
        raise SystemExit(f"the open-data files were not built:\n{run['errors'][-3000:]}")
    return {
        "seconds": round(built["seconds"], 2),
        "peak_rss_mb": run["peak_rss_mb"],
        "peak_pss_mb": run["peak_pss_mb"],
    }


def import_file(
    env: dict[str, str], path: Path, skip_bad: bool = False, profiled: bool = False
) -> dict[str, Any]:
    args = [str(BIN / "registry"), "import", str(path), "--authority", "MIIT"]
    args += ["--publish-as", REVIEWER] + (["--skip-bad"] if skip_bad else [])
    raw = OUT / "profiles" / f"import-{path.stem}.raw"
    if profiled:  # sampled from outside, without blocking the process: little overhead
        raw.parent.mkdir(exist_ok=True)
        spy = [str(BIN / "py-spy"), "record", "--nonblocking", "--subprocesses", "-r", "50"]
        spy += ["-f", "raw"]  # --subprocesses: a large file is imported in a forked child
        args = [*spy, "-o", str(raw), "--", *args]
    run = timed(args, env)
    (OUT / f"import-{path.stem}.log").write_text(run["output"] + run["errors"])
    summary = [
        line
        for line in run["output"].splitlines()
        if line.strip() and not line.startswith("py-spy>")
    ]
    if not summary or not summary[-1].startswith("已导入"):  # py-spy hides the exit status
        raise SystemExit(f"{path.name}: the import failed:\n{run['errors'][-3000:]}")
    return {
        "seconds": run["seconds"],
        "cpu_seconds": run["cpu_seconds"],
        "peak_rss_mb": run["peak_rss_mb"],
        "peak_pss_mb": run["peak_pss_mb"],
        "summary": summary[-2:],
        "profile": hottest(f"import-{path.stem}", [raw]) if profiled else None,
    }


def build_ours(
    data: dict[str, Any], profiled: bool = PROFILE, whole: bool = True
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # The quarter: 11,435 B1 rows into an empty registry, then the index catch-up that the
    # app runs after the commit (the import is only searchable once that is done).
    instance, env = make_instance("instance")
    log("import of the B1 batch …")
    batch = import_file(env, OUT / "listings-b1.csv", profiled=profiled)
    catch = timed([sys.executable, "-c", CATCH_UP], env)
    indexed = json.loads(catch["output"].strip().splitlines()[-1])
    batch["index_seconds"] = round(indexed["seconds"], 2)
    batch["indexed_firms"] = indexed["firms"]
    batch["total_seconds"] = round(batch["seconds"] + indexed["seconds"], 2)
    batch["open_data"] = build_open_data(env)
    out["import_b1"] = batch
    log(f"import B1: {batch['seconds']} s + index {batch['index_seconds']} s; {batch['summary']}")
    log(f"open data after B1: {batch['open_data']['seconds']} s")
    parts = data.get("parts") or ["listings-all.csv"]
    if whole and len(parts) == 1:
        # The target as the issue states it: the whole file into an empty registry, one
        # command (its own instance, dropped after).
        log("import of the whole file into an empty registry …")
        fresh, fresh_env = make_instance("instance-whole")
        out["import_whole"] = import_file(
            fresh_env, OUT / parts[0], skip_bad=True, profiled=profiled
        )
        shutil.rmtree(fresh, ignore_errors=True)
        log(f"import whole: {out['import_whole']['seconds']} s; {out['import_whole']['summary']}")
    # Then the whole file into the same registry: the batch's rows are already there and
    # count as unchanged (the import is idempotent), the others are added. Then a reindex.
    log("import of every listing …")
    # --skip-bad: rows the importer refuses are reported in the summary, not fatal here.
    runs = []
    for part in parts:
        runs.append(import_file(env, OUT / part, skip_bad=True))
        if len(parts) > 1:
            log(f"import {part}: {runs[-1]['seconds']} s; {runs[-1]['summary'][-1:]}")
    out["import_all"] = {
        "seconds": round(sum(r["seconds"] for r in runs), 2),
        "cpu_seconds": round(sum(r["cpu_seconds"] for r in runs), 2),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "peak_pss_mb": max(r["peak_pss_mb"] for r in runs),
        "summary": runs[-1]["summary"] if len(runs) == 1 else [r["summary"][-1] for r in runs],
        "parts": len(runs),
        "profile": None,
    }
    log(f"import all: {out['import_all']['seconds']} s; {out['import_all']['summary']}")
    out["import_all"]["open_data"] = build_open_data(env)
    log(f"open data after the whole file: {out['import_all']['open_data']['seconds']} s")
    reindex = timed([str(BIN / "registry"), "reindex"], env)
    out["reindex"] = {
        "seconds": reindex["seconds"],
        "cpu_seconds": reindex["cpu_seconds"],
        "peak_rss_mb": reindex["peak_rss_mb"],
        "peak_pss_mb": reindex["peak_pss_mb"],
        "summary": reindex["output"].strip().splitlines()[-1:],
    }
    log(f"reindex: {reindex['seconds']} s; {out['reindex']['summary']}")
    export = OUT / "published.csv"
    exported = timed([str(BIN / "registry"), "export", "--format", "csv", "-o", str(export)], env)
    out["export"] = {k: exported[k] for k in ("seconds", "cpu_seconds", "peak_rss_mb")}
    out["instance"] = str(instance)
    out["env"] = env
    return out


def build_datasette_db(export: Path, target: Path) -> dict[str, Any]:
    """The published rows (our own export) as firms + listings, FTS5 trigram on the names."""
    from registry.exports import COLUMNS

    keys = [key for key, _ in COLUMNS]
    target.unlink(missing_ok=True)
    db = sqlite3.connect(target)
    db.execute(
        "CREATE TABLE firms (id INTEGER PRIMARY KEY, uscc TEXT UNIQUE, name TEXT NOT NULL,"
        " province TEXT)"
    )
    db.execute(
        f"CREATE TABLE listings (id INTEGER PRIMARY KEY, firm_id INTEGER REFERENCES firms(id),"
        f" {', '.join(f'{k} TEXT' for k in keys)})"
    )
    firm_ids: dict[str, int] = {}
    with open(export, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        for row in reader:
            record = dict(zip(keys, row, strict=True))
            key = record["uscc"] or record["name"]
            if key not in firm_ids:
                firm_ids[key] = len(firm_ids) + 1
                db.execute(
                    "INSERT INTO firms VALUES (?, ?, ?, ?)",
                    (firm_ids[key], record["uscc"] or None, record["name"], record["province"]),
                )
            db.execute(
                f"INSERT INTO listings (firm_id, {', '.join(keys)}) VALUES (?{', ?' * len(keys)})",
                (firm_ids[key], *(record[k] for k in keys)),
            )
    db.execute(
        "CREATE VIRTUAL TABLE firms_fts USING fts5(name, content=\"firms\", content_rowid='id',"
        " tokenize='trigram')"
    )
    db.execute("INSERT INTO firms_fts (rowid, name) SELECT id, name FROM firms")
    db.execute("CREATE INDEX listings_firm ON listings (firm_id)")
    db.commit()
    db.execute("VACUUM")
    count = db.execute("SELECT count(*) FROM firms").fetchone()[0]
    listing_count = db.execute("SELECT count(*) FROM listings").fetchone()[0]
    db.close()
    return {"firms": count, "listings": listing_count}


# --- queries and truth ----------------------------------------------------------------------


def like_truth(db: sqlite3.Connection, query: str) -> set[str]:
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = db.execute(
        "SELECT uscc FROM firms WHERE name LIKE ? ESCAPE '\\'", (f"%{escaped}%",)
    ).fetchall()
    return {uscc for (uscc,) in rows}


def choose_queries(db: sqlite3.Connection, want: int | None = None) -> dict[str, Any]:
    names = [name for (name,) in db.execute("SELECT name FROM firms ORDER BY id")]
    usccs = [u for (u,) in db.execute("SELECT uscc FROM firms WHERE uscc IS NOT NULL ORDER BY id")]
    rng = random.Random(7)
    # The selective query: the 3- or 4-character part of names closest to 100 firms
    # (scaled down with BENCH_FIRMS, at least 20).
    want = want or max(20, round(100 * len(names) / 100_000))
    grams: Counter[str] = Counter()
    for name in names:
        grams.update(
            {
                name[i : i + n]
                for n in (3, 4)
                for i in range(len(name) - n + 1)
                if CJK.match(name[i : i + n])
            }
        )
    # (not a part of the company form 有限公司/有限责任公司, which says nothing about the firm)
    named = sorted(g for g in grams if not any(c in g for c in "有限公司责任"))
    selective = min(named, key=lambda g: (abs(grams[g] - want), -len(g)))
    # Queries for recall: random parts of random names, 2, 3 and 4 characters.
    recall: list[str] = []
    for length in (2, 3, 4):
        picked = 0
        while picked < 4:
            name = rng.choice(names)
            if len(name) < length:
                continue
            start = rng.randrange(len(name) - length + 1)
            part = name[start : start + length]
            if CJK.match(part) and part not in recall:
                recall.append(part)
                picked += 1
    recall += [q for q in ("网络", selective, *BROAD) if q not in recall]
    return {
        "selective": selective,
        "selective_hits": grams[selective],
        "usccs": rng.sample(usccs, min(500, len(usccs))),
        "recall": recall,
    }


def ours_answers(base: str, query: str) -> tuple[int, set[str], int]:
    """Every uscc our /api/v1/search returns for `query` (all pages, up to RECALL_CAP)."""
    found: set[str] = set()
    page, total, requests = 1, 0, 0
    while True:
        url = f"{base}/api/v1/search?" + urllib.parse.urlencode(
            {"q": query, "per_page": 100, "page": page}
        )
        data = get_json(url)
        requests += 1
        total = data["total"]
        found.update(item["uscc"] for item in data["results"])
        if not data["results"] or page * 100 >= min(total, RECALL_CAP):
            return total, found, requests
        page += 1


def datasette_answers(base: str, query: str) -> tuple[int | None, set[str], int]:
    url = f"{base}/bench/firms.json?" + urllib.parse.urlencode(
        {"_search": query, "_col": "uscc", "_size": "max", "_shape": "objects", "_nofacet": 1}
    )
    found: set[str] = set()
    total, requests = None, 0
    while url and len(found) < RECALL_CAP:
        data = get_json(url)
        requests += 1
        total = data.get("filtered_table_rows_count", total)
        found.update(row["uscc"] for row in data["rows"])
        url = data.get("next_url")
    return total, found, requests


def score(truth: set[str], answer: set[str]) -> dict[str, Any]:
    hit = len(truth & answer)
    return {
        "answered": len(answer),
        "recall": round(hit / len(truth), 4) if truth else 1.0,
        "precision": round(hit / len(answer), 4) if answer else (1.0 if not truth else 0.0),
    }


def quality(db: sqlite3.Connection, queries: list[str], ours: str, peer: str) -> list[dict]:
    rows = []
    for query in queries:
        truth = like_truth(db, query)
        started = time.perf_counter()
        our_total, our_set, _ = ours_answers(ours, query)
        our_seconds = time.perf_counter() - started
        peer_total, peer_set, _ = datasette_answers(peer, query)
        capped = len(truth) > RECALL_CAP
        rows.append(
            {
                "query": query,
                "chars": len(query),
                "truth": len(truth),
                "capped": capped,
                "ours_total": our_total,
                "ours": score(truth, our_set) if not capped else None,
                "datasette_total": peer_total,
                "datasette": score(truth, peer_set) if not capped else None,
                "ours_fetch_seconds": round(our_seconds, 1),
            }
        )
        o, d = rows[-1]["ours"] or {}, rows[-1]["datasette"] or {}
        log(
            f"quality {query}: truth {len(truth)}, ours {our_total} "
            f"(R {o.get('recall')}, P {o.get('precision')}), datasette {peer_total} "
            f"(R {d.get('recall')}, P {d.get('precision')})"
        )
    return rows


# --- workloads ------------------------------------------------------------------------------


def run_ours(
    env: dict[str, str], queries: dict[str, Any], name: str = "ours", full: bool = True
) -> tuple[list[dict], dict[str, Any]]:
    """Our workloads; with `full`, then the search quality and py-spy on missed targets."""
    results: list[dict] = []
    plans: dict[str, tuple[list[str], dict[str, str] | None]] = {}
    server = gunicorn(name, "registry.wsgi:app", env)  # as README's production command
    with serving(server, "/"):
        usccs = queries["usccs"]
        etag_status, headers, _ = get(server.base + "/feeds/listings.rss")
        etag = headers.get("ETag") or headers.get("Etag") or ""
        check, _, _ = get(server.base + "/feeds/listings.rss", {"If-None-Match": etag})
        # The open-data CSV's ETag (its SHA-256), from a one-byte range of the built file.
        csv_status, csv_headers, _ = get(server.base + "/data/listings.csv", {"Range": "bytes=0-0"})
        csv_etag = csv_headers.get("ETag") or csv_headers.get("Etag") or ""
        csv_check, _, _ = get(server.base + "/data/listings.csv", {"If-None-Match": csv_etag})
        sel, (b4, b_all) = queries["selective"], BROAD
        plans = {
            "uscc_page": ([f"/search?q={u}" for u in usccs], None),
            "uscc_api": ([f"/api/v1/search?q={u}" for u in usccs], None),
            "selective_page": ([f"/search?q={sel}"], None),
            "selective_api": ([f"/api/v1/search?q={sel}"], None),
            "broad4_page": ([f"/search?q={b4}"], None),
            "broad4_api": ([f"/api/v1/search?q={b4}"], None),
            "broad_all_page": ([f"/search?q={b_all}"], None),
            "broad_all_api": ([f"/api/v1/search?q={b_all}"], None),
            "enterprise_page": ([f"/enterprises/{u}" for u in usccs], None),
            "enterprise_api": ([f"/api/v1/enterprises/{u}" for u in usccs], None),
            "feed_cold": (["/feeds/listings.rss"], None),
            "feed_304": (["/feeds/listings.rss"], {"If-None-Match": etag}),
            "csv_304": (["/data/listings.csv"], {"If-None-Match": csv_etag}),
            "csv_export": (["/data/listings.csv"], None),
        }
        if csv_check != 304:  # the files are not built at the database's head: no 304 to time
            log(f"csv_304 left out: the built CSV answered {csv_status}, then {csv_check}")
            del plans["csv_304"]
        for workload, (paths, hdrs) in plans.items():  # warm every worker's caches and
            if workload != "csv_export":  # code paths, under load so that every worker gets some
                warm(server, workload, paths, hdrs)
        # (not the export: wrk stops after 2 s but the workers would go on writing 20 MB
        # answers into the next, measured, workload)
        for workload, (paths, hdrs) in plans.items():
            results.append(wrk(server, workload, paths, hdrs))
        feed = {
            "etag": etag,
            "first_status": etag_status,
            "conditional_status": check,
            "csv_range_status": csv_status,
            "csv_conditional_status": csv_check,
        }
        if not full:
            return results, {"feed": feed}
        # Quality is measured on the same server right after the load.
        db = sqlite3.connect(OUT / "bench.db")
        peer = start_datasette()
        with serving(peer, "/bench/firms.json?_size=1"):
            qual = quality(db, queries["recall"], server.base, peer.base)
        db.close()
        extra = {"feed": feed, "quality": qual, "plans": plans, "server": server}
        missed = [r for r in results if verdict_for(r["workload"], r, None, None) is False]
        profiles = {}
        if PROFILE:
            for r in missed:
                paths, hdrs = plans[r["workload"]]
                log(f"profiling {r['workload']} …")
                profiles[r["workload"]] = profile(server, r["workload"], paths, hdrs)
        extra["profiles"] = profiles
    extra.pop("server")
    return results, extra


# --- the long tail ---------------------------------------------------------------------------


def long_tail_queries(db: sqlite3.Connection, count: int) -> dict[str, list[str]]:
    """`count` distinct parts of 2-4 characters of the listed firms' names (CJK only, as
    people type them), in random order, plus a few hundred more for the warm-up; and the
    USCCs of up to `count` listed firms."""
    names = [name for (name,) in db.execute("SELECT name FROM firms ORDER BY id")]
    usccs = [u for (u,) in db.execute("SELECT uscc FROM firms WHERE uscc IS NOT NULL ORDER BY id")]
    rng = random.Random(15)
    wanted = count + 500
    parts: dict[str, None] = {}
    attempts = 0
    while len(parts) < wanted and attempts < 50 * wanted:
        attempts += 1
        name = rng.choice(names)
        length = rng.choice((2, 3, 4))
        if len(name) < length:
            continue
        start = rng.randrange(len(name) - length + 1)
        part = name[start : start + length]
        if CJK.match(part):
            parts.setdefault(part, None)
    found = list(parts)
    rng.shuffle(found)
    rng.shuffle(usccs)
    # 500 firms for the warm-up that the measured run never asks for (fewer measured firms
    # when there are not enough).
    warm_usccs, usccs = usccs[-500:], usccs[:-500]
    return {
        "queries": found[:count],
        "warm": found[count:],
        "usccs": usccs[:count],
        "warm_usccs": warm_usccs,
    }


def zipf(items: list[str], requests: int, seed: int = 15) -> list[str]:
    """`requests` draws from `items` with P(rank k) proportional to 1/k (Zipf, s = 1)."""
    rng = random.Random(seed)
    weights = [1 / rank for rank in range(1, len(items) + 1)]
    return rng.choices(items, weights=weights, k=requests)


def cache_counts(server: Server) -> dict[int, tuple[int, int]]:
    """Each worker's public-cache hits and misses, from /healthz: concurrent requests until
    every worker has answered (a sync worker answers one at a time)."""
    from concurrent.futures import ThreadPoolExecutor

    wanted = set(server.workers())
    seen: dict[int, tuple[int, int]] = {}

    def ask(_: int) -> None:
        status, _headers, body = get(server.base + "/healthz")
        if status == 200:
            data = json.loads(body)
            counts = data.get("public_cache") or {}
            seen[data["pid"]] = (
                counts.get("hits", 0),
                counts.get("misses", 0),
                counts.get("shared_hits", 0),
            )

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        for _ in range(20):
            list(pool.map(ask, range(4 * CONNECTIONS)))
            if wanted <= set(seen):
                break
    return seen


def hit_rate(before: dict[int, tuple[int, ...]], after: dict[int, tuple[int, ...]]) -> dict:
    """Hits (of which served by the tier the host's workers share), misses and the rate."""
    hits, misses, shared = (
        sum(after[pid][i] - before.get(pid, (0, 0, 0))[i] for pid in after) for i in range(3)
    )
    total = hits + misses
    return {
        "hits": hits,
        "misses": misses,
        "shared_hits": shared,
        "hit_rate": round(hits / total, 4) if total else None,
        "shared_hit_rate": round(shared / total, 4) if total else None,
    }


def long_tail_plans(tail: dict[str, list[str]]) -> dict[str, tuple[list[str], list[str]]]:
    """Workload -> (measured paths, warm-up paths: other queries and firms of the same kind)."""
    q, warm = tail["queries"], tail["warm"]
    page = [f"/search?q={x}" for x in q]
    return {
        "distinct_search_page": (page, [f"/search?q={x}" for x in warm]),
        "distinct_search_api": (
            [f"/api/v1/search?q={x}" for x in q],
            [f"/api/v1/search?q={x}" for x in warm],
        ),
        "distinct_firm_page": (
            [f"/enterprises/{u}" for u in tail["usccs"]],
            [f"/enterprises/{u}" for u in tail["warm_usccs"]],
        ),
        "cold_feed": (
            [f"/feeds/enterprises/{u}.atom" for u in tail["usccs"]],
            [f"/feeds/enterprises/{u}.atom" for u in tail["warm_usccs"]],
        ),
        "zipf_search_page": (zipf(page, ZIPF_REQUESTS), [f"/search?q={x}" for x in warm]),
    }


def long_tail_workload(
    env: dict[str, str], name: str, paths: list[str], warm_paths: list[str]
) -> dict:
    """One workload on a fresh server (an empty cache), warmed on other paths of its kind."""
    server = gunicorn(f"ours-{name}", "registry.wsgi:app", env)
    with serving(server, "/"):
        warm(server, name, warm_paths, None)
        before = cache_counts(server)
        result = wrk(server, name, paths, script=lua_file_script(name, paths))
        result |= hit_rate(before, cache_counts(server))
        result["distinct_paths"] = len(set(paths))
        result["repeated"] = result["requests"] > len(paths) // WRK_THREADS * WRK_THREADS
        log(
            f"{name}: cache hits {result['hits']} ({result['shared_hits']} shared), "
            f"misses {result['misses']}"
        )
    return result


def run_long_tail(env: dict[str, str], tail: dict[str, list[str]]) -> tuple[list[dict], dict]:
    """The long tail through Flask, cache on as shipped, each workload between two runs of
    hello-world on a server kept up beside ours: a workload's ratio is to the mean of the
    two, the machine's speed of that minute; py-spy on the ones that missed."""
    plans = long_tail_plans(tail)
    results = []
    hello = gunicorn("hello-beside", "hello:app", clean_env(), chdir=ROOT / "bench")
    with serving(hello, "/"):
        warm(hello, "hello", ["/"], None)
        before = wrk(hello, "hello-beside", ["/"])
        for name, plan in plans.items():
            result = long_tail_workload(env, name, *plan)
            after = wrk(hello, "hello-beside", ["/"])
            result["hello_beside"] = beside(before, after)
            results.append(result)
            before = after
    profiles = {}
    if PROFILE:
        for r in results:
            if verdict_for(r["workload"], r, None, None) is False:
                log(f"profiling {r['workload']} …")
                paths, warm_paths = plans[r["workload"]]
                server = gunicorn(f"ours-{r['workload']}-profiled", "registry.wsgi:app", env)
                with serving(server, "/"):
                    warm(server, r["workload"], warm_paths, None)
                    rest = paths[len(paths) // 2 :] + paths[: len(paths) // 2]
                    profiles[r["workload"]] = profile(server, r["workload"], rest, None)
    return results, profiles


def beside(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Hello-world just before and just after a workload: the reference of its ratios."""
    runs = [before["rps"], after["rps"]]
    cpu = [r["cpu_ms"] for r in (before, after) if r.get("cpu_ms")]
    return {
        "rps": round(sum(runs) / 2, 1),
        "runs": runs,
        "cpu_ms": round(sum(cpu) / len(cpu), 3) if cpu else None,
        "status_errors": before["status_errors"] + after["status_errors"],
    }


def run_match(env: dict[str, str]) -> dict[str, Any]:
    """Distinct 100-query batches to /api/v1/match (bench/match_load.py) on a server of
    ours, after MATCH_WARM batches of warm-up; under py-spy again with other batches when
    the p50 misses its target."""
    work = match_load.batches(OUT / "bench.db", MATCH_WARM + 2 * MATCH_BATCHES)
    warm_work, measured = work[:MATCH_WARM], work[MATCH_WARM : MATCH_WARM + MATCH_BATCHES]
    server = gunicorn("ours-match", "registry.wsgi:app", env)
    with serving(server, "/"):
        match_load.drive(server.base, warm_work)
        pids = server.workers()
        reset_peak(pids)
        cpu_before = cpu_seconds(pids)
        result = match_load.drive(server.base, measured)
        cpu = cpu_seconds(pids) - cpu_before
        result["cpu_ms_per_batch"] = round(cpu * 1000 / max(result["batches"], 1), 1)
        result["peak_rss_mb"] = peak_rss_mb(pids)
        result["first_query"] = measured[0][0].query.name if measured else ""
        log(
            f"match: {result['batches']} batches, p50 {result['p50_ms']} ms, "
            f"p99 {result['p99_ms']} ms, CPU {result['cpu_ms_per_batch']} ms/batch, "
            f"errors {result['errors']}, recall {result['recall']}"
        )
        if PROFILE and not match_load.verdict(result):
            log("profiling match …")
            with spying(server, "match") as found:
                match_load.drive(server.base, work[MATCH_WARM + MATCH_BATCHES :])
            result["profile"] = found[0]
    return result


def render_match(results: dict[str, Any]) -> list[str]:
    r = results.get("match")
    if not r:
        return []
    lines = [
        "",
        "## Screening: POST /api/v1/match",
        "",
        f"{r['batches']} distinct batches of {match_load.SIZE} queries, sent one after the "
        "other to a server of ours (gunicorn, 2 sync workers) after "
        f"{MATCH_WARM} batches of warm-up; the time of a batch is from the request to the last "
        "byte of the answer. The queries are written from the published firms' names with "
        "the evaluation set's kinds (`registry/screening/evaluation.py`: traditional, "
        "full-width, brackets, legal form dropped or changed, region dropped, branch added, "
        "an industry character changed) and names of other firms that match nothing (a "
        "trade-name character changed, another city), mixed in every batch; no query is "
        "asked twice. Variants found: the share of variant queries whose firm is flagged in "
        "the answer; flags on other firms: flagged firms a query does not stand for. CPU "
        f"ms/batch: the workers' CPU time ÷ batches. First query: `{r['first_query']}`.",
        "",
        "| batches | queries | p50 ms | p99 ms | max ms | CPU ms/batch | RSS MB | errors "
        "| variants found | flags on other firms | target | |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {r['batches']} | {r['queries']:,} | {fmt(r['p50_ms'])} | {fmt(r['p99_ms'])} | "
        f"{fmt(r['max_ms'])} | {fmt(r['cpu_ms_per_batch'])} | {fmt(r['peak_rss_mb'])} | "
        f"{r['errors']} | {pct(r['recall'])} | {r['wrong_flags']} | "
        f"p50 < {match_load.TARGET_P50_MS:g} ms | {mark(match_load.verdict(r))} |",
    ]
    prof = r.get("profile")
    if prof and prof["samples"]:
        lines += ["", f"**match** under py-spy ({prof['samples']} samples), inclusive:", ""]
        lines += [f"- {item['share']:.0%} `{item['frame']}`" for item in prof["top"][:10]]
        lines += ["", leaf_line(prof)]
    return lines


def match_target_row(results: dict[str, Any]) -> list[str]:
    r = results.get("match")
    if not r:
        return []
    return [
        f"| match: p50 < {match_load.TARGET_P50_MS:g} ms per batch of {match_load.SIZE} "
        f"queries | p50 {fmt(r['p50_ms'])} ms, p99 {fmt(r['p99_ms'])} ms over "
        f"{r['batches']} batches | {mark(match_load.verdict(r))} |"
    ]


def start_datasette() -> Server:
    port = free_port()
    args = [str(BIN / "datasette"), "serve", "-i", str(OUT / "bench.db")]
    args += ["-h", "127.0.0.1", "-p", str(port), "--setting", "suggest_facets", "off"]
    args += ["--setting", "default_facet_size", "0", "--setting", "max_returned_rows", "5000"]
    args += ["--setting", "sql_time_limit_ms", "10000", "--setting", "default_page_size", "20"]
    args += ["--setting", "num_sql_threads", "3"]
    return Server("datasette", args, clean_env(), port)


def run_datasette(queries: dict[str, Any]) -> list[dict]:
    server = start_datasette()
    results = []
    with serving(server, "/bench/firms.json?_size=1"):
        sel, (b4, b_all) = queries["selective"], BROAD

        def search(q: str) -> list[str]:
            return [f"/bench/firms.json?_search={q}&_nofacet=1&_shape=objects"]

        plans = {
            "uscc_api": (
                [f"/bench/firms.json?uscc={u}&_nofacet=1&_shape=objects" for u in queries["usccs"]]
            ),
            "selective_api": search(sel),
            "broad4_api": search(b4),
            "broad_all_api": search(b_all),
            "two_chars_api": search("网络"),
        }
        for paths in plans.values():
            get(server.base + urllib.parse.quote(paths[0], safe="/?=&%"))
        for name, paths in plans.items():
            results.append(wrk(server, name, paths))
    return results


def run_hello() -> list[dict]:
    server = gunicorn("hello", "hello:app", clean_env(), chdir=ROOT / "bench")
    with serving(server, "/"):
        return [wrk(server, "hello", ["/"])]


# --- targets ----------------------------------------------------------------------

TARGETS = {
    "uscc_page": ("hello", 0.5, 5.0),
    "uscc_api": ("hello", 0.5, 5.0),
    "selective_page": ("hello", 0.25, 15.0),
    "selective_api": ("hello", 0.25, 15.0),
    "broad4_api": ("datasette", 1.0, 80.0),
    "broad_all_api": ("datasette", 1.0, 80.0),
    "enterprise_page": ("hello", 0.3, None),
    "feed_304": ("hello", 0.5, None),
    "csv_304": ("hello", 0.5, None),  # the open-data files' conditional GET
}
# The long tail: each path once (the Zipf mix: popular queries repeat).
LONG_TAIL_TARGETS = {
    "distinct_search_page": ("hello", 0.3, 20.0),
    "distinct_search_api": ("hello", 0.3, 20.0),
    "distinct_firm_page": ("hello", 0.3, None),
    "cold_feed": ("hello", 0.2, None),
    "zipf_search_page": ("hello", 0.5, None),
}
_REFERENCE: dict[str, Any] = {}


def verdict_for(workload: str, result: dict, hello: dict | None, peer: dict | None) -> bool | None:
    """True/False against the issue's target; None when the workload has none."""
    targets = TARGETS | LONG_TAIL_TARGETS
    if workload not in targets:
        return None
    against, ratio, p99 = targets[workload]
    hello = reference_hello(result, hello) or _REFERENCE.get("hello")
    peer = peer or _REFERENCE.get("datasette", {}).get(workload)
    reference = hello if against == "hello" else peer
    ok = result["status_errors"] == 0 and result["socket_errors"] == 0
    if reference:
        ok = ok and result["rps"] >= ratio * reference["rps"]
    if p99 is not None:
        ok = ok and result["p99_ms"] < p99
    return ok


# --- report ---------------------------------------------------------------------------------


def version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def machine() -> dict[str, Any]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "flask": version("flask"),
        "gunicorn": version("gunicorn"),
        "datasette": version("datasette"),
        "whoosh": version("whoosh-reloaded"),
        "wrk": wrk_version[1] if len(wrk_version) > 1 else "?",
        "commit": commit,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_at_start": [round(x, 1) for x in os.getloadavg()],
        # the registry's calendar day: when it changes, every server rebuilds its open-data
        # files and empties its caches of public answers, work the figures then include
        "registry_day": rules.today().isoformat(),
    }


def day_changed(m: dict[str, Any], results: dict[str, Any]) -> list[str]:
    """A warning line when the registry's day (Asia/Shanghai) changed during the run."""
    start, end = m.get("registry_day"), results.get("registry_day_at_end")
    if start is None or end is None or start == end:
        return []
    return [
        f"- **the registry's day changed during this run** ({start} → {end}, at 16:00 UTC): "
        "from then on each server of ours had the open-data files rebuilt for the new day "
        "on the same cores while it served, and its caches started empty; the figures "
        "measured after the change include that work. Rerun away from 16:00 UTC."
    ]


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def mark(ok: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "–"}[ok]


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    hello = results["hello"][0]
    peer = {r["workload"]: r for r in results["datasette"]}
    builds = results["build"]
    lines = [
        "# Performance",
        "",
        'Written by `make bench` (bench/run.py), except the sections "Measured by hand" and',
        '"Scale" (`make bench-scale`), which it keeps. One run on one machine: our registry,',
        "the limit (a hello-world Flask app under the same gunicorn settings) and the peer",
        "(Datasette over the same published rows with an FTS5 trigram index), side by side.",
        "The machines are shared and noisy: read the ratios, not the absolute figures.",
        "",
        f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gb']} GB, Linux {m['kernel']}",
        f"- versions: Python {m['python']}, SQLite {m['sqlite']}, Flask {m['flask']}, "
        f"gunicorn {m['gunicorn']}, Datasette {m['datasette']}, Whoosh {m['whoosh']}, "
        f"wrk {m['wrk']}; registry at commit `{m['commit']}`; {m['date']}",
        f"- command: `{results['command']}` — {results['data']['firms']:,} firms, "
        f"{results['data']['listings']:,} listings generated by `registry.fakedata`; "
        f"{results['datasette_db']['firms']:,} firms / {results['datasette_db']['listings']:,} "
        "listings in force after import (the rows both servers publish)",
        f"- load: wrk, {CONNECTIONS} connections, 2 threads, {DURATION} s per workload, "
        "127.0.0.1 only; ours and hello-world: gunicorn, 2 sync workers; Datasette: "
        "`datasette serve -i` (facets off, default 3 SQL threads); our database: SQLite",
        f"- total run time: {results['seconds'] / 60:.1f} min; load average (1, 5, 15 min) "
        f"{m['load_at_start']} at the start, {results['load_at_end']} at the end (other jobs "
        "shared the machine when it is above the CPU count)",
        *day_changed(m, results),
        "",
        "## Import and index",
        "",
        "Memory is the peak, sampled every 0.2 s, of the sum over the command's processes of",
        "their proportional set size (PSS), with the sum of their resident set sizes (RSS)",
        "next to it; the 300 MB target is judged on the PSS sum. The command forks: the import",
        "of a large file runs in a child, and the index rebuild forks a builder. A forked",
        "child's copy-on-write pages are resident in both processes, so the RSS sum counts them",
        "twice; PSS divides each shared page between the processes that map it and counts it",
        "once.",
        "",
        "| step | rows | time | peak memory: PSS sum (RSS sum) | target | |",
        "|---|---|---|---|---|---|",
    ]
    b1 = builds["import_b1"]
    lines.append(
        f"| `registry import` {results['data']['b1_rows']:,} B1 rows into an empty registry "
        "(the command catches the search index up after its commit), then a separate catch-up "
        f"({b1['indexed_firms']} firms left to index) | {results['data']['b1_rows']:,} "
        f"| {b1['seconds']:.1f} s + {b1['index_seconds']:.1f} s = **{b1['total_seconds']:.1f} s** "
        f"| {memory_figures(b1)} | < 5 s | {mark(b1['total_seconds'] < 5)} |"
    )
    ia = builds["import_all"]
    iw = builds.get("import_whole")
    if iw:
        lines.append(
            f"| `registry import` of the whole file into an empty registry (its own instance; "
            f"the command catches the search index up after its commit): "
            f"{'; '.join(iw['summary'])} | {results['data']['listings']:,} | "
            f"**{iw['seconds']:.1f} s** | {memory_figures(iw)} | < 30 s, < 300 MB "
            f"| {mark(whole_file_ok(iw))} |"
        )
    lines.append(
        f"| `registry import` of the whole file into the B1 quarter's registry (the batch's "
        f"rows unchanged): {'; '.join(ia['summary'])} | {results['data']['listings']:,} | "
        f"{ia['seconds']:.1f} s (with the quarter's {b1['total_seconds']:.1f} s: "
        f"{b1['total_seconds'] + ia['seconds']:.1f} s) | {memory_figures(ia)} | – | – |"
    )
    for label, step in (("the B1 import", b1), ("the whole file's import", ia)):
        built = step.get("open_data")
        if built:
            lines.append(
                f"| open-data files (CSV, JSON, XLSX of the listings in force) built after "
                f"{label}: derived work the import command leaves to the serving processes' "
                f"follower, timed on its own | – | {built['seconds']:.1f} s | "
                f"{memory_figures(built)} | – | – |"
            )
    ri = builds["reindex"]
    lines.append(
        f"| `registry reindex` | {results['datasette_db']['firms']:,} firms | "
        f"{ri['seconds']:.1f} s | {memory_figures(ri)} | < 10 s for 100k firms | "
        f"{scale_mark(results, ri['seconds'] < 10)} |"
    )
    lines += [
        "",
        "## Throughput and latency",
        "",
        "RSS is the peak resident set of the busiest worker during that workload (VmHWM, reset",
        "before each). Ratios: ours ÷ hello-world and ours ÷ Datasette on the same query.",
        "",
        "| server | workload | req/s | p50 ms | p99 ms | KB/resp | RSS MB | ÷ hello | ÷ Datasette "
        "| target | |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def row(r: dict, ours: bool) -> str:
        vs_hello = r["rps"] / hello["rps"] if hello["rps"] else None
        other = peer.get(r["workload"]) if ours else None
        vs_peer = r["rps"] / other["rps"] if other and other["rps"] else None
        target = ""
        verdict = None
        if ours and r["workload"] in TARGETS:
            against, ratio, p99 = TARGETS[r["workload"]]
            target = (f"≥ {ratio}× hello" if against == "hello" else "≥ Datasette") + (
                f", p99 < {p99:g} ms" if p99 else ""
            )
            verdict = verdict_for(r["workload"], r, hello, other)
        errors = (f" ({r['status_errors']} non-2xx/3xx)" if r["status_errors"] else "") + (
            f" ({r['socket_errors']} socket errors)" if r["socket_errors"] else ""
        )
        return (
            f"| {r['server']} | {r['workload']}{errors} | {fmt(r['rps'])} | {fmt(r['p50_ms'], 2)} | "
            f"{fmt(r['p99_ms'], 2)} | {fmt(r['kb_per_request'])} | {fmt(r['peak_rss_mb'])} | "
            f"{fmt(vs_hello, 2)} | {fmt(vs_peer, 2)} | {target} | {mark(verdict) if target else ''} |"
        )

    lines.append(row(hello, False))
    lines += [row(r, True) for r in results["ours"]]
    lines += [row(r, True) for r in results.get("ours_nocache", [])]
    lines += [row(r, False) for r in results["datasette"]]
    lines += [
        "",
        "`ours` serves with its cache of public answers (`PUBLIC_CACHE`, the default: an",
        "anonymous answer is kept per worker until the next write commits or the day changes;",
        "wrk repeats its paths, so after the warm-up these are answers from the cache);",
        "`ours-nocache` is the same server with `REGISTRY_PUBLIC_CACHE=false`: every request",
        "through Flask, as the first request for a path after a write. The verdicts below are",
        "for `ours`.",
    ]
    lines += render_long_tail(results)
    lines += render_match(results)
    served = results["ours"] + list(results.get("long_tail") or [])
    rss = max((r.get("peak_rss_mb") or 0) for r in served)
    lines += [
        "",
        f"Peak RSS of a worker of ours over all workloads, the long tail's included: **{rss} MB** "
        f"(target < 200 MB: {mark(rss < 200)}).",
        "",
        "Paths (the first of each rotation; USCC workloads rotate over "
        f"{len(results['queries']['usccs'])} codes of listed firms): "
        + "; ".join(
            f"{r['workload']} `{r['path']}`"
            + (f" + `{json.dumps(r['headers'], ensure_ascii=False)}`" if r["headers"] else "")
            for r in results["ours"]
        )
        + ".",
        "",
        f"The selective query is `{results['queries']['selective']}` "
        f"({results['queries']['selective_hits']} firms containing it among the listed firms); "
        f"the broad queries `{BROAD[0]}` and `{BROAD[1]}`. The listings feed answered "
        f"{results['feed']['first_status']} and, with `If-None-Match`, "
        f"{results['feed']['conditional_status']}; the built CSV answered a one-byte range "
        f"{results['feed'].get('csv_range_status', '–')} and, with its `ETag` in "
        f"`If-None-Match`, {results['feed'].get('csv_conditional_status', '–')}.",
        "",
        "## Recall and precision against SQL `LIKE`",
        "",
        "Truth: `SELECT uscc FROM firms WHERE name LIKE '%q%'` over the published firms (the",
        "rows Datasette serves). Ours: every page of `/api/v1/search?q=` (100 per page);",
        "Datasette: every page of `firms.json?_search=` (FTS5 trigram).",
        "",
        "| query | chars | LIKE | ours total | ours recall | ours precision | Datasette total "
        "| Datasette recall | Datasette precision |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    all_ok = True
    for q in results["quality"]:
        o, d = q["ours"] or {}, q["datasette"] or {}
        if q["ours"] is not None:
            all_ok = all_ok and o["recall"] == 1.0 and o["precision"] == 1.0
        lines.append(
            f"| {q['query']} | {q['chars']} | {q['truth']:,} | {fmt(q['ours_total'])} | "
            f"{pct(o.get('recall'))} | {pct(o.get('precision'))} | {fmt(q['datasette_total'])} | "
            f"{pct(d.get('recall'))} | {pct(d.get('precision'))} |"
        )
    lines += [
        "",
        f"Recall and precision 100 % for every query of two or more characters: {mark(all_ok)}.",
        "",
        "## Targets",
        "",
        "| target | result | |",
        "|---|---|---|",
    ]
    ours = {r["workload"]: r for r in results["ours"]}
    for workload, (against, ratio, p99) in TARGETS.items():
        r = ours[workload]
        other = peer.get(workload)
        reference = hello if against == "hello" else other
        lines.append(
            f"| {workload}: ≥ {ratio}× {against}"
            + (f", p99 < {p99:g} ms" if p99 else "")
            + f" | {fmt(r['rps'])} req/s = {fmt(r['rps'] / reference['rps'] if reference else None, 2)}× "
            f"{against}, p99 {fmt(r['p99_ms'], 2)} ms | {mark(verdict_for(workload, r, hello, other))} |"
        )
    lines.append(
        f"| import of 11,435 rows incl. indexing < 5 s | {b1['total_seconds']:.1f} s | "
        f"{mark(b1['total_seconds'] < 5)} |"
    )
    if iw:
        lines.append(
            f"| the whole file into an empty registry < 30 s and < 300 MB | "
            f"{iw['seconds']:.1f} s, {peak_memory(iw)} MB PSS | {mark(whole_file_ok(iw))} |"
        )
    lines.append(
        f"| reindex of 100k firms < 10 s | {ri['seconds']:.1f} s for "
        f"{results['datasette_db']['firms']:,} firms | {scale_mark(results, ri['seconds'] < 10)} |"
    )
    lines += long_tail_target_rows(results)
    lines += match_target_row(results)
    lines.append(f"| < 200 MB per worker | {rss} MB | {mark(rss < 200)} |")
    lines.append(f"| recall and precision 100 % | see above | {mark(all_ok)} |")
    for step in ("import_b1", "import_whole", "import_all"):
        prof = (builds.get(step) or {}).get("profile")
        if prof and prof["samples"]:
            lines += ["", f"**{step}** under py-spy ({prof['samples']} samples), inclusive:", ""]
            lines += [f"- {item['share']:.0%} `{item['frame']}`" for item in prof["top"][:12]]
            lines += ["", leaf_line(prof)]
    if results.get("profiles"):
        lines += [
            "",
            "## Where the time goes (py-spy, workloads that missed a target)",
            "",
            "Inclusive share of samples in the workers for the hottest frames of our code.",
            "",
        ]
        for workload, prof in results["profiles"].items():
            lines.append(f"**{workload}** ({prof['samples']} samples):")
            lines.append("")
            for item in prof["top"][:10]:
                lines.append(f"- {item['share']:.0%} `{item['frame']}`")
            lines += ["", leaf_line(prof), ""]
    if results.get("notes"):
        lines += ["", "## Notes", "", *results["notes"]]
    return "\n".join(lines).rstrip() + "\n"


def render_long_tail(results: dict[str, Any]) -> list[str]:
    """The long-tail table: each workload on a fresh server of ours, cache on as shipped."""
    rows = results.get("long_tail") or []
    if not rows:
        return []
    hello = results["hello"][0]
    tail = results["long_tail_queries"]
    lines = [
        "",
        "## The long tail (cache on, as shipped)",
        "",
        f"Real traffic is a long tail: {tail['queries']:,} distinct parts of 2–4 characters of "
        f"the listed firms' names, {tail['usccs']:,} distinct firms. The distinct workloads "
        "request each path once (wrk reads the path list; thread k of 2 starts at k/2 of it "
        "and walks on), so the cache of public answers can rarely help; the Zipf mix draws "
        f"{ZIPF_REQUESTS:,} requests from the {tail['queries']:,} search pages with "
        "P(rank k) ∝ 1/k. Each workload runs on a fresh server of ours (an empty cache) "
        "after 2 s of warm-up on other paths of the same kind. Hit rate: the public cache's "
        "hits ÷ (hits + misses) during the run, summed over the workers (`public_cache` in "
        "`/healthz`); in brackets the part served by the tier a host's workers share (an "
        "answer the other worker built). The cold feed is a firm's Atom feed, `/feeds/enterprises/<uscc>.atom`. "
        "CPU ms/req: the workers' CPU time during the run ÷ requests (steady when other jobs "
        "load the machine, unlike req/s); ÷ hello by CPU: hello-world's ÷ ours. "
        "Hello beside: a hello-world server stays up during these workloads and is measured "
        "just before and just after each (req/s of the two runs); ÷ hello is to their mean, "
        "so that a ratio compares two servers at the same minute of a machine whose speed "
        "moves (the first table's hello-world ran minutes earlier).",
        "",
        "| workload | first path | requests | req/s | p50 ms | p99 ms | KB/resp | RSS MB "
        "| hello beside req/s | ÷ hello | CPU ms/req | ÷ hello by CPU | cache hit rate "
        "| target | |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        _against, ratio, p99 = LONG_TAIL_TARGETS[r["workload"]]
        target = f"≥ {ratio}× hello" + (f", p99 < {p99:g} ms" if p99 else "")
        errors = (f" ({r['status_errors']} non-2xx/3xx)" if r["status_errors"] else "") + (
            " (paths repeated)" if r.get("repeated") and r["workload"] != "zipf_search_page" else ""
        )
        verdict = verdict_for(r["workload"], r, hello, None)
        reference = reference_hello(r, hello)
        lines.append(
            f"| {r['workload']}{errors} | `{r['path']}` | {r['requests']:,} | {fmt(r['rps'])} | "
            f"{fmt(r['p50_ms'], 2)} | {fmt(r['p99_ms'], 2)} | {fmt(r['kb_per_request'])} | "
            f"{fmt(r['peak_rss_mb'])} | {beside_cell(r)} | "
            f"{fmt(r['rps'] / reference['rps'], 2)} | "
            f"{fmt(r.get('cpu_ms'), 2)} | {fmt(cpu_ratio(reference, r), 2)} | "
            f"{hit_cell(r)} | {target} | {mark(verdict)} |"
        )
    for workload, prof in (results.get("long_tail_profiles") or {}).items():
        lines += ["", f"**{workload}** under py-spy ({prof['samples']} samples), inclusive:", ""]
        lines += [f"- {item['share']:.0%} `{item['frame']}`" for item in prof["top"][:10]]
        lines += ["", leaf_line(prof)]
    return lines


def reference_hello(result: dict[str, Any], hello: dict[str, Any] | None) -> Any:
    """The hello-world a result is compared with: the runs beside it (a long-tail
    workload's), else the first table's."""
    return result.get("hello_beside") or hello


def beside_cell(result: dict[str, Any]) -> str:
    runs = (result.get("hello_beside") or {}).get("runs")
    return " → ".join(fmt(x) for x in runs) if runs else "–"


def hit_cell(result: dict[str, Any]) -> str:
    """The hit rate, with the shared tier's part when it served any."""
    shared = result.get("shared_hit_rate")
    return pct(result.get("hit_rate")) + (f" ({pct(shared)} shared)" if shared else "")


def cpu_ratio(hello: dict[str, Any], result: dict[str, Any]) -> float | None:
    """Hello-world's CPU time per request ÷ ours: the req/s ratio a machine to ourselves
    would show (the verdicts stay on req/s)."""
    if not hello.get("cpu_ms") or not result.get("cpu_ms"):
        return None
    return hello["cpu_ms"] / result["cpu_ms"]


def long_tail_target_rows(results: dict[str, Any]) -> list[str]:
    hello = results["hello"][0]
    out = []
    for r in results.get("long_tail") or []:
        _against, ratio, p99 = LONG_TAIL_TARGETS[r["workload"]]
        out.append(
            f"| {r['workload']}: ≥ {ratio}× hello"
            + (f", p99 < {p99:g} ms" if p99 else "")
            + f" | {fmt(r['rps'])} req/s = "
            f"{fmt(r['rps'] / reference_hello(r, hello)['rps'], 2)}× hello beside it, "
            f"p99 {fmt(r['p99_ms'], 2)} ms, cache hit rate {hit_cell(r)} | "
            f"{mark(verdict_for(r['workload'], r, hello, None))} |"
        )
    return out


def whole_file_ok(whole: dict[str, Any]) -> bool:
    """The whole file into an empty registry, one command; its memory judged on the PSS sum
    (see peak_memory)."""
    return whole["seconds"] < 30 and peak_memory(whole) < 300


def peak_memory(step: dict[str, Any]) -> float:
    """A command's peak memory: the sum of PSS over its processes (the sum of RSS where a
    result predates PSS). The forked index builder's copy-on-write pages are shared with
    the command: the RSS sum counts them twice, the PSS sum divides them between the two."""
    pss = step.get("peak_pss_mb")
    return float(pss if pss is not None else step["peak_rss_mb"])


def memory_figures(step: dict[str, Any]) -> str:
    """`PSS sum (RSS sum)` of a command, as the report shows it."""
    if step.get("peak_pss_mb") is None:
        return f"{step['peak_rss_mb']} MB RSS"
    return f"{step['peak_pss_mb']} MB PSS ({step['peak_rss_mb']} MB RSS)"


def scale_mark(results: dict[str, Any], ok: bool) -> str:
    """A verdict on a target set for 100k firms, qualified when the run was smaller."""
    if results["data"]["firms"] >= 100_000 or not ok:
        return mark(ok)
    return f"met at {results['data']['firms']:,} firms only (no verdict for 100k)"


def leaf_line(prof: dict[str, Any]) -> str:
    return "Self time by package: " + ", ".join(
        f"{item['package']} {item['share']:.0%}" for item in prof.get("leaves", [])
    )


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


# --- scale (BENCH_ONLY=scale) ----------------------------------------------------------------

# The search workloads of the scale point, without the cache of public answers: what a
# search costs the server (a repeated path would measure the cache).
SCALE_WORKLOADS = (
    "selective_page",
    "selective_api",
    "broad4_page",
    "broad4_api",
    "broad_all_page",
    "broad_all_api",
    "enterprise_page",
)
SCALE_SELECTIVE_HITS = 100  # the selective query's firms at every scale, for the comparison


def worker_memory(pids: list[int]) -> list[dict[str, float]]:
    """Each worker's resident set now and its peak since it started (VmRSS, VmHWM), MB."""
    found = []
    for pid in pids:
        with suppress(OSError):
            status = Path(f"/proc/{pid}/status").read_text()
            values = {
                key: int(m.group(1)) / 1024
                for key in ("VmRSS", "VmHWM")
                if (m := re.search(rf"^{key}:\s+(\d+) kB", status, re.M))
            }
            found.append({k: round(v, 1) for k, v in values.items()})
    return found


def prime(server: Server, path: str) -> float:
    """Requests at once until every worker has answered a search (the first search in a
    worker loads the index's bitmaps): seconds until then, not part of any workload."""
    started = time.perf_counter()
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        list(pool.map(lambda _: get(server.base + path), range(CONNECTIONS * 2)))
    return round(time.perf_counter() - started, 1)


def run_scale_serving(env: dict[str, str], queries: dict[str, Any]) -> dict[str, Any]:
    uncached = env | {"REGISTRY_PUBLIC_CACHE": "false"}
    server = gunicorn("ours-scale", "registry.wsgi:app", uncached)
    sel, (b4, b_all) = queries["selective"], BROAD
    usccs = queries["usccs"]
    plans = {
        "selective_page": [f"/search?q={sel}"],
        "selective_api": [f"/api/v1/search?q={sel}"],
        "broad4_page": [f"/search?q={b4}"],
        "broad4_api": [f"/api/v1/search?q={b4}"],
        "broad_all_page": [f"/search?q={b_all}"],
        "broad_all_api": [f"/api/v1/search?q={b_all}"],
        "enterprise_page": [f"/enterprises/{u}" for u in usccs],
    }
    with serving(server, "/"):
        first = prime(server, quoted(plans["selective_page"][0]))
        log(f"first searches (bitmaps loaded in each worker): {first} s")
        for workload in SCALE_WORKLOADS:
            warm(server, workload, plans[workload], None)
        results = [wrk(server, workload, plans[workload]) for workload in SCALE_WORKLOADS]
        memory = worker_memory(server.workers())
    log(f"workers after the searches: {memory}")
    return {"first_search_seconds": first, "workloads": results, "workers": memory}


def run_scale(results: dict[str, Any]) -> None:
    """Data, import, reindex and uncached search at FIRMS; the Scale section of the report."""
    started = time.perf_counter()
    results["data"] = make_data()
    build = build_ours(results["data"], profiled=False, whole=False)
    env = build.pop("env")
    results["build"] = build
    db_started = time.perf_counter()
    results["datasette_db"] = build_datasette_db(OUT / "published.csv", OUT / "bench.db")
    with sqlite3.connect(OUT / "bench.db") as db:
        queries = choose_queries(db, SCALE_SELECTIVE_HITS)
    log(f"published rows and queries: {time.perf_counter() - db_started:.1f} s")
    results["queries"] = {k: v for k, v in queries.items() if k != "usccs"}
    log(f"selective query {queries['selective']} ({queries['selective_hits']} firms)")
    results["serving"] = run_scale_serving(env, queries)
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["load_at_end"] = [round(x, 1) for x in os.getloadavg()]
    (SCALES / f"scale-{FIRMS}.json").write_text(json.dumps(results, ensure_ascii=False, indent=1))
    measured = {}
    for path in sorted(SCALES.glob("scale-*.json")):
        run = json.loads(path.read_text())
        measured[run["data"]["firms"]] = run
    section = render_scale(measured)
    old = REPORT.read_text(encoding="utf-8") if REPORT.exists() else "# Performance\n"
    REPORT.write_text(replace_section(old, SCALE_HEADING, section), encoding="utf-8")
    log(f"done in {results['seconds'] / 60:.1f} min; the Scale section of {REPORT}")


SCALE_HEADING = "## Scale"
# Development figures written by hand (before/after a change); every run keeps them.
HAND_HEADING = "## Measured by hand"


def replace_section(document: str, heading: str, section: list[str]) -> str:
    """`document` with the section under `heading` (to the next heading of its level)
    replaced by `section`, or with `section` added at the end."""
    lines = document.rstrip("\n").split("\n")
    level = heading.split(" ", 1)[0] + " "
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    if start is None:
        return "\n".join([*lines, "", *section]).rstrip("\n") + "\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(level)), len(lines))
    kept = [*lines[:start], *section, *([""] + lines[end:] if end < len(lines) else [])]
    return "\n".join(kept).rstrip("\n") + "\n"


def kept_section(document: str, heading: str) -> list[str]:
    """The lines of the section under `heading` in `document` (none if it has none)."""
    lines = document.rstrip("\n").split("\n")
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    if start is None:
        return []
    level = heading.split(" ", 1)[0] + " "
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(level)), len(lines))
    return lines[start:end]


def _scale_rows(run: dict[str, Any]) -> dict[str, tuple[str, float | None]]:
    """(figure as shown, value compared across scales) for each row of the Scale table."""
    data, build, serving = run["data"], run["build"], run["serving"]
    rows: dict[str, tuple[str, float | None]] = {}

    def step(label: str, item: dict[str, Any] | None) -> None:
        if not item:
            return
        cpu = item.get("cpu_seconds")
        rows[label] = (
            f"{item['seconds']:.1f} s wall, {fmt(cpu)} s CPU, {fmt(item.get('peak_rss_mb'))} MB",
            cpu if cpu is not None else item["seconds"],
        )

    rows["data: listings generated (`registry.fakedata`, CSV written)"] = (
        f"{data['listings']:,} rows: {data['seconds']:.1f} s wall, {fmt(data.get('cpu_seconds'))}"
        " s CPU",
        data.get("cpu_seconds") or data["seconds"],
    )
    b1 = build["import_b1"]
    step(f"`registry import` {data['b1_rows']:,} B1 rows into an empty registry", b1)
    step("`registry import` of every listing (the B1 rows unchanged)", build["import_all"])
    parts = build["import_all"].get("parts") or 1
    if parts > 1:
        label = "`registry import` of every listing (the B1 rows unchanged)"
        shown, value = rows[label]
        rows[label] = (f"{shown} ({parts} files of at most {MAX_ROWS:,} rows)", value)
    step("`registry reindex`", build["reindex"])
    step("`registry export --format csv`", build.get("export"))
    work = {r["workload"]: r for r in serving["workloads"]}
    labels = {
        "selective_page": f"search page, selective ({run['queries']['selective_hits']} firms)",
        "selective_api": "search API, selective",
        "broad4_page": f"search page, broad `{BROAD[0]}`",
        "broad4_api": f"search API, broad `{BROAD[0]}`",
        "broad_all_page": f"search page, broad `{BROAD[1]}` (every firm)",
        "broad_all_api": f"search API, broad `{BROAD[1]}`",
        "enterprise_page": "firm page (500 firms in turn)",
    }
    for name, label in labels.items():
        r = work.get(name)
        if r is None:
            continue
        rows[f"{label}: p50 / p99, CPU per request"] = (
            f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f} ms, {fmt(r['cpu_ms'], 2)} ms CPU "
            f"({r['rps']:,.0f} req/s)",
            r["cpu_ms"],
        )
    peak = max((r["peak_rss_mb"] or 0) for r in serving["workloads"])
    rows["RSS per worker: busiest worker's peak during a search workload (VmHWM)"] = (
        f"{peak:.0f} MB",
        peak,
    )
    rows["RSS per worker after the searches (VmRSS of each)"] = (
        ", ".join(f"{w.get('VmRSS', 0):.0f}" for w in serving["workers"]) + " MB",
        max((w.get("VmRSS") or 0) for w in serving["workers"]) or None,
    )
    rows["first search in a fresh worker (loads the bitmaps)"] = (
        f"{serving['first_search_seconds']:.1f} s wall",
        serving["first_search_seconds"],
    )
    return rows


def render_scale(measured: dict[int, dict[str, Any]]) -> list[str]:
    scales = sorted(measured)
    rows = {firms: _scale_rows(run) for firms, run in measured.items()}
    lines = [
        SCALE_HEADING,
        "",
        "Written by `make bench-scale` (`BENCH_ONLY=scale` in bench/run.py), one run per firm",
        "count; `make bench` keeps this section as it is. Each run: generate the data,",
        "import the B1 batch and then every listing into a fresh SQLite registry, "
        "`registry reindex`,",
        "export; then ours under gunicorn (2 sync workers) with the cache of public answers off,",
        f"each search workload driven by wrk ({CONNECTIONS} connections, {DURATION} s) after "
        "a 2 s warm-up.",
        "CPU seconds are user + system time of the command and the children it waited for (the",
        "forked index builder); CPU per request is the workers' CPU time over the requests. The",
        "machine is shared with other jobs: the CPU figures compare across runs, the wall figures",
        "and req/s depend on the load. Growth is the ratio of the CPU figures (of the wall time",
        "or memory where there is no CPU figure).",
        "",
    ]
    for firms in scales:
        run = measured[firms]
        m = run["machine"]
        lines.append(
            f"- {firms:,} firms: `{run['command']}` at commit `{m['commit']}`, {m['date']}; "
            f"{m['nproc']} CPUs, {m['memory_gb']} GB; load average {m['load_at_start']} at "
            f"the start, {run['load_at_end']} at the end; {run['seconds'] / 60:.1f} min; "
            f"{run['datasette_db']['firms']:,} firms published; selective query "
            f"`{run['queries']['selective']}`"
        )
    header = "| step | " + " | ".join(f"{f:,} firms" for f in scales)
    growth = [f"× {a:,} → {b:,}" for a, b in zip(scales, scales[1:], strict=False)]
    lines += [
        "",
        header + "".join(f" | {g}" for g in growth) + " |",
        "|---|" + "---|" * (len(scales) + len(growth)),
    ]
    labels = list(dict.fromkeys(label for f in scales for label in rows[f]))
    for label in labels:
        cells = [rows[f].get(label, ("–", None))[0] for f in scales]
        ratios = []
        for a, b in zip(scales, scales[1:], strict=False):
            va, vb = rows[a].get(label, ("", None))[1], rows[b].get(label, ("", None))[1]
            ratios.append(f"{vb / va:.1f}×" if va and vb else "–")
        lines.append(f"| {label} | " + " | ".join(cells + ratios) + " |")
    return lines


# --- main -----------------------------------------------------------------------------------


def main() -> None:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (make bench installs it: apt-get install -y wrk)")
    started = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    command = "make bench" + (f" BENCH_FIRMS={FIRMS}" if FIRMS != 100_000 else "")
    if ONLY == "scale":
        command = f"make bench-scale BENCH_FIRMS={FIRMS}"
    results: dict[str, Any] = {"command": command, "machine": machine()}
    if ONLY == "scale":
        run_scale(results)
        return
    saved = OUT / "build.json"
    if REUSE and saved.exists():  # development: serve the instance of the previous run
        log("BENCH_REUSE: reusing the data and instance of the previous run")
        results["data"], build = json.loads(saved.read_text())
    else:
        results["data"] = make_data()
        build = build_ours(results["data"])
        saved.write_text(json.dumps([results["data"], build], ensure_ascii=False))
    env = build.pop("env")
    results["build"] = build
    results["datasette_db"] = build_datasette_db(OUT / "published.csv", OUT / "bench.db")
    log(f"datasette db: {results['datasette_db']}")
    with sqlite3.connect(OUT / "bench.db") as db:
        queries = choose_queries(db)
    results["queries"] = {k: v for k, v in queries.items()}
    log(f"selective query {queries['selective']} ({queries['selective_hits']} firms)")
    if ONLY == "match":
        results["match"] = run_match(env)
        (OUT / "match.json").write_text(json.dumps(results, ensure_ascii=False, indent=1))
        (OUT / "match.md").write_text("\n".join(render_match(results)) + "\n")
        log(f"done; {OUT / 'match.md'}")
        return
    results["hello"] = run_hello()
    _REFERENCE["hello"] = results["hello"][0]
    with sqlite3.connect(OUT / "bench.db") as db:
        tail = long_tail_queries(db, LONG_TAIL)
    results["long_tail_queries"] = {"queries": len(tail["queries"]), "usccs": len(tail["usccs"])}
    if ONLY == "long_tail":
        results["long_tail"], results["long_tail_profiles"] = run_long_tail(env, tail)
        (OUT / "long_tail.json").write_text(json.dumps(results, ensure_ascii=False, indent=1))
        (OUT / "long_tail.md").write_text("\n".join(render_long_tail(results)) + "\n")
        log(f"done; {OUT / 'long_tail.md'}")
        return
    results["datasette"] = run_datasette(queries)
    _REFERENCE["datasette"] = {r["workload"]: r for r in results["datasette"]}
    ours, extra = run_ours(env, queries)
    results["ours"] = ours
    # The same without the cache of public answers: every request through Flask, what the
    # first request after a write costs.
    uncached = env | {"REGISTRY_PUBLIC_CACHE": "false"}
    results["ours_nocache"], _ = run_ours(uncached, queries, "ours-nocache", full=False)
    results["long_tail"], results["long_tail_profiles"] = run_long_tail(env, tail)
    results["match"] = run_match(env)
    results["feed"] = extra["feed"]
    results["quality"] = extra["quality"]
    results["profiles"] = extra["profiles"]
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["load_at_end"] = [round(x, 1) for x in os.getloadavg()]
    results["registry_day_at_end"] = rules.today().isoformat()
    (OUT / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=1))
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    previous = REPORT.read_text(encoding="utf-8") if REPORT.exists() else ""
    report = render(results)
    for heading in (HAND_HEADING, SCALE_HEADING):  # scale: written by BENCH_ONLY=scale runs
        kept = kept_section(previous, heading)
        if kept:
            report = replace_section(report, heading, kept)
    REPORT.write_text(report, encoding="utf-8")
    log(f"done in {results['seconds'] / 60:.1f} min; {REPORT}")


if __name__ == "__main__":
    main()

"""Crash consistency of evidence uploads (docs/SECURITY.md): kill -9 the server.

A real instance in a temporary directory (SQLite), served by `registry serve` in a
subprocess; a clerk logged in through the real form; two clients sending evidence uploads
(PDFs of random size and content, multipart POSTs with the CSRF token) while the server is
killed with SIGKILL at a random moment, then restarted. After every kill:

* `PRAGMA integrity_check` is ok;
* every upload acknowledged (302 to the sanction's page) before the kill has its Evidence
  row and its file, whose SHA-256 is the uploaded bytes' (no acknowledged write lost);
* no Evidence row lacks its file, and every file's bytes hash to its name;
* after `registry sweep` and the restart, no orphan: every file under EVIDENCE_DIR is
  ``ab/<sha256>`` named by an Evidence row — content-addressed files no row names and
  ``.upload-*`` temporary files, which a kill between the file write and the commit leaves,
  are removed by `registry sweep` (services.evidence.sweep_orphans).

REGISTRY_SOAK_KILLS raises the number of kills (`make soak`), as for tests/test_crash.py.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import signal
import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.factories import record_sanction_committed
from tests.test_crash import Instance

KILLS = int(os.environ.get("REGISTRY_SOAK_KILLS", "20"))
PASSWORD = "crash upload password 123"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
CLIENTS = 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pdf(rng: random.Random) -> bytes:
    body = rng.randbytes(rng.randint(512, 256 * 1024)).hex().encode()
    return b"%PDF-1.7\n% " + body + b"\n%%EOF\n"


class Server:
    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.process = None
        self.url = ""

    def start(self) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = self.instance.start("serve", "--port", str(port))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the server exited at start"
            try:
                requests.get(self.url + "/admin/login", timeout=2)
                return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise AssertionError("the server did not start within 60 s")

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()


@pytest.fixture(scope="module")
def instance(tmp_path_factory) -> tuple[Instance, int]:
    made = Instance(tmp_path_factory.mktemp("crash-upload"))
    result = made.run("init")
    assert result.returncode == 0, result.stderr
    result = made.run(
        "user", "create", "clerk1", "--authority", "440000", "--role", "clerk",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return made, _sanction(made)


def _sanction(instance: Instance) -> int:
    """A draft penalty decision of the clerk's bureau, to attach evidence to."""
    from sqlalchemy.orm import Session

    from registry.db import make_engine

    engine = make_engine(f"sqlite:///{instance.db}")
    try:
        with Session(engine) as session:
            return record_sanction_committed(
                session, "clerk1", "深圳市崩溃测试网络科技有限公司", "粤通管罚〔2026〕1号"
            )
    finally:
        engine.dispose()


def _login(server: Server, client: requests.Session, sanction_id: int) -> str:
    """Log in through the form (once: the cookie outlives restarts); the CSRF token."""
    page = client.get(server.url + "/admin/login", timeout=10).text
    token = CSRF.search(page).group(1)
    answer = client.post(
        server.url + "/admin/login",
        data={"username": "clerk1", "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302 and "/admin/login" not in answer.headers["Location"]
    # The token of the logged-in session, from the page with the upload form.
    page = client.get(f"{server.url}/admin/sanctions/{sanction_id}", timeout=10).text
    return CSRF.search(page).group(1)


def _state(instance: Instance) -> tuple[dict[int, str], list[Path]]:
    """Evidence rows (id → sha256) after an integrity check, and every file on disk."""
    with sqlite3.connect(instance.db, timeout=30) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = dict(conn.execute("SELECT id, sha256 FROM evidence"))
    root = instance.root / "evidence"
    files = [p for p in root.rglob("*") if p.is_file()]
    return rows, files


def _orphans(rows: dict[int, str], files: list[Path]) -> list[Path]:
    """Files that are not ``<dir>/ab/<sha256>`` named by a row (temporary files included)."""
    named = set(rows.values())
    return [p for p in files if not (p.name in named and p.parent.name == p.name[:2])]


def _check(instance: Instance, acknowledged: dict[str, bytes], hashed: set[str]) -> tuple[int, int]:
    """Acknowledged uploads lost, and orphans on disk (before the restart sweeps them).
    `hashed`: files already read back whole (stored files are never rewritten)."""
    rows, files = _state(instance)
    root = instance.root / "evidence"
    lost = 0
    for sha in acknowledged:
        path = root / sha[:2] / sha
        if sha not in rows.values() or not path.is_file():
            lost += 1
    for sha in set(rows.values()):
        path = root / sha[:2] / sha
        assert path.is_file(), f"Evidence row without its file: {sha}"
        if sha not in hashed:
            assert hashlib.sha256(path.read_bytes()).hexdigest() == sha, f"torn file {sha}"
            hashed.add(sha)
    return lost, len(_orphans(rows, files))


def _uploader(
    seed: int,
    url: str,
    cookies,
    token: str,
    stop: threading.Event,
    acknowledged: dict[str, bytes],
    errors: list[str],
) -> None:
    """Upload PDFs until the server dies (or `stop`); note each one acknowledged."""
    rng = random.Random(seed)
    with requests.Session() as client:
        client.cookies.update(cookies)
        while not stop.is_set():
            data = _pdf(rng)
            try:
                answer = client.post(
                    url,
                    data={"csrf_token": token, "description": "kill -9 test"},
                    files={"file": ("scan.pdf", data, "application/pdf")},
                    allow_redirects=False,
                    timeout=30,
                )
            except requests.RequestException:
                return  # killed mid-request: the outcome is unknown, either is fine
            location = answer.headers.get("Location", "")
            if answer.status_code != 302 or "/admin/sanctions/" not in location:
                errors.append(f"{answer.status_code} {location} {answer.text[-1500:]}")
                return
            acknowledged[hashlib.sha256(data).hexdigest()] = data


def test_kill_9_during_evidence_uploads(instance, security_figures):
    instance, sanction_id = instance
    rng = random.Random(int(os.environ.get("REGISTRY_CRASH_SEED", time.time())))
    server = Server(instance)
    client = requests.Session()
    acknowledged: dict[str, bytes] = {}
    hashed: set[str] = set()
    kills = lost = orphans_left = orphans_after_restart = 0
    try:
        server.start()
        token = _login(server, client, sanction_id)
        while True:
            # Started, or restarted after `registry sweep`: no orphan on disk.
            rows, files = _state(instance)
            orphans_after_restart += len(_orphans(rows, files))
            assert not _orphans(rows, files), _orphans(rows, files)
            if kills >= KILLS:
                break
            stop, errors = threading.Event(), []
            url = f"{server.url}/admin/sanctions/{sanction_id}/evidence"
            threads = [
                threading.Thread(
                    target=_uploader,
                    args=(
                        rng.randrange(2**32),
                        url,
                        client.cookies,
                        token,
                        stop,
                        acknowledged,
                        errors,
                    ),
                )
                for _ in range(CLIENTS)
            ]
            for thread in threads:
                thread.start()
            time.sleep(rng.uniform(0.05, 0.4))
            server.kill()
            kills += 1
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
            assert not errors, errors
            missing, orphans = _check(instance, acknowledged, hashed)
            lost += missing
            orphans_left += orphans
            assert not missing, f"{missing} acknowledged upload(s) lost"
            swept = instance.run("sweep", "--orphans-older-than", "0")
            assert swept.returncode == 0, swept.stderr
            server.start()
    finally:
        if server.process is not None and server.process.poll() is None:
            server.kill()
    assert acknowledged, "no upload was acknowledged: the test proved nothing"
    security_figures["upload kill -9: kills"] += kills
    security_figures["upload kill -9: uploads acknowledged"] += len(acknowledged)
    security_figures["upload kill -9: acknowledged uploads lost"] += lost
    security_figures["upload kill -9: orphans left by a kill (removed by registry sweep)"] += (
        orphans_left
    )
    security_figures["upload kill -9: orphans after sweep and restart"] += orphans_after_restart


def test_registry_sweep_removes_orphans_and_keeps_evidence(instance):
    instance, _ = instance
    root = instance.root / "evidence"
    rows, _files = _state(instance)
    data = b"%PDF-1.7\n% never committed\n%%EOF\n"
    sha = hashlib.sha256(data).hexdigest()
    orphan = root / sha[:2] / sha
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(data)
    temporary = root / sha[:2] / ".upload-abc123"
    temporary.write_bytes(data[:5])
    foreign = root / "README.txt"  # not the app's: left alone
    foreign.write_text("operator's note")
    young = instance.run("sweep")  # by default only files older than an hour
    assert young.returncode == 0, young.stderr
    assert orphan.exists() and temporary.exists()
    result = instance.run("sweep", "--orphans-older-than", "0")
    assert result.returncode == 0, result.stderr
    assert "2 orphaned evidence file(s) removed" in result.stdout
    assert not orphan.exists() and not temporary.exists() and foreign.exists()
    foreign.unlink()
    after, files = _state(instance)
    assert after == rows and not _orphans(after, files)
    assert all((root / s[:2] / s).is_file() for s in rows.values())

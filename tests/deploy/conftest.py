"""A production-shaped deployment on one machine: a PostgreSQL cluster of the tests' own,
two app hosts (gunicorn with the deploy config, two workers each, separate instance folders,
one shared evidence folder) and nginx in front with the deploy site file.

Hosts are separate process groups on their own loopback ports; clients are told apart by
their source address (127.0.0.2, 127.0.0.3 ... are all loopback on Linux). With CI=true a
missing PostgreSQL, nginx or gunicorn fails the run instead of skipping it.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import html.parser
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SECRET = "deploy-test-secret-" + "s" * 40
PASSWORD = "deploy test password 123"
CI = os.environ.get("CI") == "true"


def need(what: str, found: object) -> None:
    if not found:
        message = f"{what} is needed for the deployment tests"
        if CI:
            pytest.fail(message + " (CI=true: .ci/run installs it)")
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check, timeout: float, what: str, interval: float = 0.05):
    """Poll `check()` until it returns something truthy; that value, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (requests.RequestException, OSError) as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"{what} not within {timeout} s (last: {last!r})")


class Postgres:
    """A PostgreSQL cluster in a temporary folder, run as the `postgres` user."""

    def __init__(self, root: Path) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        need("PostgreSQL (initdb)", bins)
        self.bin = Path(bins[-1]).parent
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/registry"

    def _as_postgres(self, *args: str) -> subprocess.CompletedProcess:
        command = list(args)
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        result = self._as_postgres(
            str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"
        )
        assert result.returncode == 0, result.stderr
        self.start()
        result = self._as_postgres(
            str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "registry"
        )
        assert result.returncode == 0, result.stderr

    def pg_ctl(self, action: str) -> None:
        result = self._as_postgres(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-w",
            "-m",
            "fast",
            "-l",
            str(self.root / "log"),
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1",
            action,
        )
        assert result.returncode == 0, (action, result.stdout, result.stderr)

    def start(self) -> None:
        self.pg_ctl("start")

    def stop(self) -> None:
        self.pg_ctl("stop")


class Host:
    """One app host: its own instance folder, gunicorn with deploy/gunicorn.conf.py."""

    def __init__(self, name: str, root: Path, env: dict[str, str]) -> None:
        self.name = name
        self.instance = root / f"host-{name}"
        self.instance.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **env,
            "REGISTRY_INSTANCE_PATH": str(self.instance),
            "REGISTRY_BIND": f"127.0.0.1:{self.port}",
            "REGISTRY_WORKERS": "2",
            "REGISTRY_ACCESS_LOG": str(self.instance / "access.log"),
        }
        self.process: subprocess.Popen | None = None
        self.log = self.instance / "gunicorn.log"

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(VENV_BIN / "registry"), *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
        )

    def start(self) -> None:
        gunicorn = VENV_BIN / "gunicorn"
        need("gunicorn", gunicorn.exists())
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(gunicorn),
                    "-c",
                    str(ROOT / "deploy" / "gunicorn.conf.py"),
                    "registry.wsgi:app",
                ],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self.healthy, 90, f"host {self.name} healthy")

    def healthy(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log.read_text()
        return requests.get(self.url + "/healthz", timeout=5).status_code == 200

    def kill9(self) -> None:
        """SIGKILL to the master and every worker at once (the whole process group)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class Nginx:
    """Debian's nginx with deploy/nginx/registry.conf, its upstream set to the hosts."""

    def __init__(self, root: Path, hosts: list[Host], exports: Path) -> None:
        binary = shutil.which("nginx") or (
            "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
        )
        need("nginx", binary)
        self.binary = binary
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        site = (ROOT / "deploy" / "nginx" / "registry.conf").read_text()
        servers = "".join(
            f"    server 127.0.0.1:{h.port} max_fails=3 fail_timeout=10s;\n" for h in hosts
        )
        site, n = re.subn(r"    server 127\.0\.0\.1:8000[^\n]*\n", servers, site)
        assert n == 1, "the site file's upstream line changed: update this test"
        site = site.replace("listen 80;", f"listen 127.0.0.1:{self.port};")
        site = site.replace("listen [::]:80;", "")
        site = site.replace("/srv/registry/static/", f"{ROOT / 'static'}/")
        site = site.replace("/srv/registry/exports/", f"{exports}/")
        root.mkdir(parents=True, exist_ok=True)
        (root / "site.conf").write_text(site)
        temp = root / "temp"
        temp.mkdir(exist_ok=True)
        (root / "nginx.conf").write_text(
            f"""
user root;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {root}/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {root}/site.conf;
}}
"""
        )

    def start(self) -> None:
        conf = str(self.root / "nginx.conf")
        check = subprocess.run([self.binary, "-t", "-c", conf], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        result = subprocess.run([self.binary, "-c", conf], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        wait_for(lambda: requests.get(self.url + "/healthz", timeout=5).ok, 30, "nginx")

    def stop(self) -> None:
        subprocess.run(
            [self.binary, "-c", str(self.root / "nginx.conf"), "-s", "stop"], capture_output=True
        )


class Deployment:
    def __init__(self, root: Path) -> None:
        # Outside pytest's private temporary folder, which the postgres user cannot enter.
        self.pg = Postgres(Path(tempfile.mkdtemp(prefix="registry-deploy-pg-")))
        self.pg.init()
        self.evidence = root / "shared-evidence"
        self.exports = root / "shared-exports"  # one folder both hosts and nginx mount
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")},
            "REGISTRY_DATABASE_URL": self.pg.url,
            "REGISTRY_SECRET_KEY": SECRET,
            # the tree heads are signed with one key on every host
            "REGISTRY_LOG_SIGNING_KEY": base64.b64encode(
                b"deploy-test-log-signing-key-32b!"
            ).decode(),
            "REGISTRY_PROXY_HOPS": "1",
            "REGISTRY_EVIDENCE_DIR": str(self.evidence),
            "REGISTRY_EXPORT_DIR": str(self.exports),
            "LANGUAGE": "en",
        }
        self.a = Host("a", root, env)
        self.b = Host("b", root, env)
        result = self.a.run("init")
        assert result.returncode == 0, result.stderr
        assert not (self.a.instance / "config.py").exists()  # the key comes from the env
        for username, authority, role in (
            ("clerk1", "440000", "clerk"),
            ("reviewer1", "440000", "reviewer"),
            ("admin1", "MIIT", "admin"),
        ):
            created = self.a.run(
                "user", "create", username, "--authority", authority, "--role", role,
                "--password-stdin", stdin=PASSWORD + "\n",
            )  # fmt: skip
            assert created.returncode == 0, created.stderr
        self.a.start()
        self.b.start()
        self.nginx = Nginx(root / "nginx", [self.a, self.b], self.exports)
        self.nginx.start()

    def stop(self) -> None:
        self.nginx.stop()
        for host in (self.a, self.b):
            host.stop()
        with contextlib.suppress(AssertionError):
            self.pg.stop()
        shutil.rmtree(self.pg.root, ignore_errors=True)


@pytest.fixture(scope="package")
def deployment(tmp_path_factory) -> Iterator[Deployment]:
    need("nginx", shutil.which("nginx") or Path("/usr/sbin/nginx").exists())
    made = Deployment(tmp_path_factory.mktemp("deploy"))
    try:
        yield made
    finally:
        made.stop()


# --- talking to the hosts -----------------------------------------------------------------


class SourceAdapter(requests.adapters.HTTPAdapter):
    """Connections from a given loopback address (a client of its own, as nginx sees it)."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        return super().init_poolmanager(*args, **kwargs)


def client_from(source: str = "127.0.0.1") -> requests.Session:
    session = requests.Session()
    adapter = SourceAdapter(source)
    session.mount("http://", adapter)
    return session


class _Forms(html.parser.HTMLParser):
    """Every form's action and the values its fields would submit."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._field: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append((a.get("action") or "", {}))
        elif not self.forms:
            return
        fields = self.forms[-1][1] if self.forms else {}
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    fields[a["name"]] = a.get("value", "y")
            elif kind not in ("submit", "file"):
                fields[a["name"]] = a.get("value", "")
        elif tag == "textarea" and a.get("name"):
            self._field = a["name"]
            fields[self._field] = ""
        elif tag == "select" and a.get("name"):
            self._select = a["name"]
        elif tag == "option" and self._select and ("selected" in a or self._select not in fields):
            fields[self._select] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._field = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._field and self.forms:
            self.forms[-1][1][self._field] += data


def form_fields(page: str, action_contains: str) -> dict[str, str]:
    """The fields of the first form whose action contains `action_contains`; with "", of
    the first form that posts to the page itself (no action)."""
    parser = _Forms()
    parser.feed(page)
    for action, fields in parser.forms:
        if (action_contains and action_contains in action) or (not action_contains and not action):
            return fields
    raise AssertionError(f"no form posting to {action_contains!r}")


CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf(session: requests.Session, base: str, path: str = "/admin/login") -> str:
    """The session's CSRF token, from a page with a form (the login page, or once logged
    in any back-office page: the logout button is a form)."""
    page = session.get(base + path, timeout=10).text
    return CSRF.search(page).group(1)


def log_in(session: requests.Session, base: str, username: str) -> requests.Response:
    return session.post(
        base + "/admin/login",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf(session, base)},
        allow_redirects=False,
        timeout=30,
    )

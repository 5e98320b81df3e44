"""The README's own commands, as a newcomer runs them: `registry init --demo` then
`registry serve`, and the production entry point `registry.wsgi:app` under gunicorn with
the deploy config (SQLite here; tests/deploy/test_two_hosts.py runs it on PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
import requests

from tests.deploy.conftest import ROOT, VENV_BIN, free_port, need, wait_for

pytestmark = pytest.mark.deploy


@pytest.fixture
def demo_instance(tmp_path) -> dict[str, str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")},
        "REGISTRY_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    result = subprocess.run(
        [str(VENV_BIN / "registry"), "init", "--demo"],
        env=env, capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "instance" / "config.py").exists()  # SQLite: a key of its own
    return env


def _serving(command: list[str], env: dict[str, str], url: str, paths: list[str]) -> None:
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: requests.get(url + "/healthz", timeout=5).ok, 90, "the server")
        for path in paths:
            answer = requests.get(url + path, timeout=30)
            assert answer.status_code == 200, (path, answer.status_code)
        # The demo firms are indexed by the follower before the server takes requests.
        assert requests.get(url + "/api/v1/search?q=公司", timeout=30).json()["total"] > 0
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_registry_serve_answers_after_init_demo(demo_instance):
    port = free_port()
    _serving(
        [str(VENV_BIN / "registry"), "serve", "--port", str(port)],
        demo_instance,
        f"http://127.0.0.1:{port}",
        ["/", "/search?q=公司", "/about"],
    )


def test_gunicorn_serves_registry_wsgi_app(demo_instance):
    need("gunicorn", (VENV_BIN / "gunicorn").exists())
    port = free_port()
    env = {**demo_instance, "REGISTRY_BIND": f"127.0.0.1:{port}", "REGISTRY_WORKERS": "2"}
    _serving(
        [
            str(VENV_BIN / "gunicorn"),
            "-c",
            str(ROOT / "deploy" / "gunicorn.conf.py"),
            "registry.wsgi:app",
        ],
        env,
        f"http://127.0.0.1:{port}",
        ["/", "/search?q=公司", "/api/v1/search?q=公司"],
    )

"""The `registry` command line on a fresh instance folder (SQLite)."""

from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner

from registry.cli import main


@pytest.fixture
def instance(tmp_path, monkeypatch):
    path = tmp_path / "instance"
    monkeypatch.setenv("REGISTRY_INSTANCE_PATH", str(path))
    for name in ("REGISTRY_SECRET_KEY", "REGISTRY_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return path


# The console language is the POSIX locale's (registry.messages.console_locale).
ENGLISH = {"LANGUAGE": "en"}
CHINESE = {"LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": "C.UTF-8"}


def run(*args: str, input: str | None = None, env: dict | None = None):
    return CliRunner().invoke(
        main, list(args), input=input, catch_exceptions=False, env=env or ENGLISH
    )


def counts(db) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("authority", "ground", "enterprise", "listing", "event", "user_account")
        }


def test_init_writes_secret_and_is_harmless_twice(instance):
    first = run("init")
    assert first.exit_code == 0, first.output
    config = (instance / "config.py").read_text()
    assert "SECRET_KEY" in config
    before = counts(instance / "registry.db")
    assert before["authority"] == 33 and before["ground"] == 7
    second = run("init")
    assert second.exit_code == 0, second.output
    assert (instance / "config.py").read_text() == config  # the secret is kept
    assert counts(instance / "registry.db") == before


def test_init_demo_loads_data_and_prints_logins_once(instance):
    result = run("init", "--demo")
    assert result.exit_code == 0, result.output
    for role in ("clerk", "reviewer", "admin"):
        assert f"/ {role} @" in result.output
    loaded = counts(instance / "registry.db")
    assert loaded["enterprise"] >= 200 and loaded["listing"] >= 200
    again = run("init", "--demo")
    assert "demo data already present" in again.output
    assert counts(instance / "registry.db") == loaded


def test_commands_speak_chinese_on_a_console_without_an_english_locale(instance):
    first = run("init", env=CHINESE)
    assert first.exit_code == 0, first.output
    assert "数据库已就绪" in first.output and "database ready" not in first.output
    swept = run("sweep", "--today", "2099-01-01", env=CHINESE)
    assert swept.exit_code == 0, swept.output
    assert "截至 2099-01-01 期满的记录：0 条" in swept.output


def test_commands_refuse_to_run_without_secret(instance):
    result = CliRunner().invoke(main, ["sweep"])
    assert result.exit_code != 0
    assert "SECRET_KEY" in result.output


def test_user_create_reads_password_from_stdin(instance):
    run("init")
    result = run(
        "user",
        "create",
        "gd-reviewer-1",
        "--authority",
        "440000",
        "--role",
        "reviewer",
        "--password-stdin",
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    with sqlite3.connect(instance / "registry.db") as conn:
        role, hashed = conn.execute(
            "SELECT role, password_hash FROM user_account WHERE username = 'gd-reviewer-1'"
        ).fetchone()
    assert role == "reviewer" and hashed.startswith("$argon2")


@pytest.mark.parametrize(
    ("args", "lang", "message"),
    [
        (["--authority", "999999", "--role", "clerk"], "en_GB.UTF-8", "unknown authority"),
        (["--authority", "MIIT", "--role", "clerk"], "en_GB.UTF-8", "at least 10 characters"),
        (["--authority", "999999", "--role", "clerk"], "zh_CN.UTF-8", "未知的电信管理机构代码"),
        (["--authority", "MIIT", "--role", "clerk"], "C.UTF-8", "密码至少10位"),
    ],
)
def test_user_create_bad_input_is_a_clear_error_in_the_console_language(
    instance, args, lang, message
):
    run("init")
    result = CliRunner().invoke(
        main,
        ["user", "create", "someone", *args, "--password-stdin"],
        input="short\n",
        env={"LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": lang},
    )
    assert result.exit_code != 0
    assert message in result.output


def test_sweep_reports_and_accepts_a_date(instance):
    run("init", "--demo")
    result = run("sweep", "--today", "2099-01-01")
    assert result.exit_code == 0, result.output
    assert "expired as of 2099-01-01" in result.output
    with sqlite3.connect(instance / "registry.db") as conn:
        left = conn.execute(
            "SELECT count(*) FROM listing WHERE state = 'published' AND expires_on IS NOT NULL"
        ).fetchone()[0]
    assert left == 0


def test_sweep_deletes_old_personal_data_of_closed_submissions_and_says_so(instance):
    run("init")
    result = run("sweep")
    assert result.exit_code == 0, result.output
    assert "personal data of submissions closed more than 365 days ago: 0" in result.output

"""How the `registry` program ends (registry.cli.run): its database connections closed (a
SQLite file's log copied and removed), what it left in cycles freed and the rest set aside
from the collector, its output and exit code as the command gave them; a command run in a
process that goes on (a test's CliRunner) leaves the collector as it was."""

from __future__ import annotations

import gc
import os
import sqlite3
import subprocess
import sys

from click.testing import CliRunner

from registry.cli import main

# The program as its console script runs it, telling (from an exit handler, which runs
# after the command and before the interpreter's own end) what the collector holds.
PROGRAM = """
import atexit, gc, sys
from registry.cli import run
atexit.register(lambda: print(f"frozen {gc.get_freeze_count()}", file=sys.stderr))
sys.argv = ["registry", *sys.argv[1:]]
run()
"""


def _program(instance, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env |= {"REGISTRY_INSTANCE_PATH": str(instance), "LANGUAGE": "en"}
    return subprocess.run(
        [sys.executable, "-c", PROGRAM, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_program_ends_with_its_database_closed_and_its_objects_set_aside(tmp_path):
    instance = tmp_path / "instance"
    made = _program(instance, "init")
    assert made.returncode == 0, made.stderr
    assert int(made.stderr.split("frozen ")[-1]) > 10_000  # the app's objects
    shown = _program(instance, "stats")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip()  # the command's output, whole
    # The last connection's close copied the log into the file and removed it.
    assert not (instance / "registry.db-wal").exists()
    assert not (instance / "registry.db-shm").exists()
    with sqlite3.connect(instance / "registry.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT count(*) FROM authority").fetchone() == (33,)


def test_a_failing_command_keeps_its_exit_code_and_message(tmp_path):
    failed = _program(tmp_path / "instance", "user", "create", "nobody", "--role", "nope")
    assert failed.returncode == 2
    assert "nope" in failed.stderr


def test_a_command_run_in_a_process_that_goes_on_leaves_the_collector_as_it_was(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("REGISTRY_INSTANCE_PATH", str(tmp_path / "instance"))
    before = gc.get_freeze_count()
    result = CliRunner().invoke(main, ["init"], env={"LANGUAGE": "en"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert gc.get_freeze_count() == before
    assert gc.isenabled()

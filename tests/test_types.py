"""The type checker: `python -m mypy` with the project's configuration (pyproject.toml)
passes, and the rules, text normalisation and services are checked strictly."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STRICT_MODULES = {"registry.rules", "registry.text", "registry.services.*"}
# The flags `mypy --strict` turns on that mypy accepts per module.
STRICT_FLAGS = {
    "disallow_any_generics",
    "disallow_subclassing_any",
    "disallow_untyped_calls",
    "disallow_untyped_defs",
    "disallow_incomplete_defs",
    "check_untyped_defs",
    "disallow_untyped_decorators",
    "warn_return_any",
    "no_implicit_reexport",
    "strict_equality",
    "extra_checks",
}


def test_mypy_passes_with_the_project_configuration():
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout


def test_rules_text_and_services_are_checked_strictly():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["mypy"]
    strict = [
        override
        for override in config["overrides"]
        if STRICT_FLAGS <= {flag for flag, value in override.items() if value is True}
    ]
    covered = {module for override in strict for module in override["module"]}
    assert STRICT_MODULES <= covered
    ignored = {
        module
        for override in config["overrides"]
        if override.get("ignore_errors")
        for module in override["module"]
    }
    assert not STRICT_MODULES & ignored

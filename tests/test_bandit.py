"""bandit over registry/: no finding of high severity, nor of medium severity with high
confidence. A false positive is silenced on its line with `# nosec BXXX` and the reason
beside it; a bare `# nosec` (every check off on that line) is refused.

Outside CI a missing bandit skips these tests; with CI=true it fails them.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
# bandit's two thresholds are both required of a finding, so the policy is two runs.
POLICY = {
    "high severity": ["--severity-level", "high", "--confidence-level", "all"],
    "medium severity, high confidence": [
        "--severity-level",
        "medium",
        "--confidence-level",
        "high",
    ],
}


@pytest.fixture(scope="module")
def bandit() -> list[str]:
    if importlib.util.find_spec("bandit") is None:
        reason = "bandit is not installed (pip install -e '.[test]')"
        if CI:
            pytest.fail(f"{reason}; CI=true: the security linter must run", pytrace=False)
        pytest.skip(reason)
    return [sys.executable, "-m", "bandit", "-r", "registry", "-q"]


@pytest.mark.parametrize("level", POLICY)
def test_bandit_finds_nothing_at_the_level(bandit, level):
    result = subprocess.run(
        [*bandit, *POLICY[level]], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"bandit ({level}):\n{result.stdout}{result.stderr}"


def test_every_nosec_names_the_checks_it_silences():
    bare = []
    for path in sorted((ROOT / "registry").rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            found = re.search(r"#\s*nosec\b(.*)", line)
            if found and not re.match(r":?\s*B\d{3}", found.group(1)):
                bare.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not bare, "a nosec without BXXX silences every check:\n" + "\n".join(bare)

"""`make test` on a machine without Chromium: the browser tests are skipped with one line saying how
to get it and everything else runs; under CI=true (`.ci/run`) that run fails instead."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import browser_gate

ROOT = Path(__file__).resolve().parents[1]


def run_browser_tests_without_chromium(*, ci: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    # No Chromium anywhere: neither at CHROMIUM nor on PATH (only the venv's own tools).
    env.update(CHROMIUM=str(ROOT / "no-such-chromium"), PATH=str(Path(sys.executable).parent))
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/browser"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_without_chromium_the_browser_tests_are_skipped_with_one_line_on_how_to_get_it():
    result = run_browser_tests_without_chromium(ci=False)
    assert result.returncode == 0, result.stdout[-2000:]
    hints = [line for line in result.stdout.splitlines() if "apt-get install -y chromium" in line]
    assert len(hints) == 1 and hints[0].startswith("SKIPPED"), result.stdout[-2000:]
    assert " error" not in result.stdout.splitlines()[-1]


def test_without_chromium_ci_fails():
    result = run_browser_tests_without_chromium(ci=True)
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout[-2000:]
    assert "apt-get install -y chromium" in result.stdout


@pytest.mark.parametrize(("ci", "full_run", "ran", "skipped", "fails"), [
    (True, True, 10, 0, False),
    (True, True, 0, 0, True),     # deselected or never collected
    (True, True, 9, 1, True),     # one skipped
    (True, False, 0, 0, False),   # CI=true pytest tests/api: no browser test was asked for
    (True, False, 3, 0, False),
    (True, False, 0, 3, True),
    (False, True, 0, 10, False),  # a developer's machine may skip them
])
def test_the_ci_gate_on_browser_tests(ci, full_run, ran, skipped, fails):
    assert (browser_gate(ci=ci, full_run=full_run, ran=ran, skipped=skipped) is not None) is fails

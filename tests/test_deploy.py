"""The production settings of the README pass `manage.py check --deploy` with no warning."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION = {
    "SECRET_KEY": "x7Gq2vN9pL4mR8tW1yB6cE3hJ5kZ0aS-dF_gHjKlQwErTyUiOp",
    "DEBUG": "False", "ALLOWED_HOSTS": "botica.example.pe", "CSRF_TRUSTED_ORIGINS": "https://botica.example.pe",
    "BEHIND_TLS_PROXY": "True", "SECURE_SSL_REDIRECT": "True", "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "True", "SECURE_HSTS_PRELOAD": "True",
    "CACHE_URL": "redis://127.0.0.1:6379/0", "STATIC_MANIFEST": "True",
}


def run_check(extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env={**env, **extra}, capture_output=True, text=True, timeout=60)


def test_deploy_check_is_clean_with_production_settings():
    result = run_check(PRODUCTION)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_deploy_check_warns_about_a_process_local_cache():
    result = run_check({**PRODUCTION, "CACHE_URL": "locmemcache://"})
    assert result.returncode != 0
    assert "dashboard.W001" in result.stderr + result.stdout

"""The production settings of the README pass `manage.py check --deploy` with no warning."""
from __future__ import annotations

import os
import shutil
import signal
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


def test_deploy_check_refuses_several_workers_over_a_process_local_cache():
    env = {**PRODUCTION, "CACHE_URL": "locmemcache://", "WEB_CONCURRENCY": "4"}
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT,
                            env={**{k: v for k, v in os.environ.items() if k not in PRODUCTION}, **env},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0  # an error, not a warning: the default fail level stops on it
    assert "dashboard.E001" in result.stderr + result.stdout and "CACHE_URL" in result.stderr + result.stdout


def test_deploy_check_says_nothing_about_the_cache_with_one_worker():
    result = run_check({**PRODUCTION, "CACHE_URL": "locmemcache://", "WEB_CONCURRENCY": "1"})
    assert result.returncode == 0 and "dashboard.E001" not in result.stderr + result.stdout


def test_deploy_check_accepts_several_workers_over_redis():
    result = run_check({**PRODUCTION, "WEB_CONCURRENCY": "4"})
    assert result.returncode == 0, result.stderr + result.stdout


def test_gunicorn_refuses_several_workers_over_a_process_local_cache():
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION and k != "CACHE_URL"}
    result = subprocess.run([sys.executable, "-m", "gunicorn", "portal.wsgi", "-c", "gunicorn.conf.py",
                             "--bind", "127.0.0.1:0", "--check-config"],
                            cwd=ROOT, env={**env, "WEB_CONCURRENCY": "4", "SECRET_KEY": "x" * 50},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "CACHE_URL" in result.stderr


def test_the_server_refuses_several_workers_over_a_process_local_cache():
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION and k != "CACHE_URL"}
    result = subprocess.run([sys.executable, "-m", "portal.serve", "--bind", "127.0.0.1:0"], cwd=ROOT,
                            env={**env, "WEB_CONCURRENCY": "4", "SECRET_KEY": "x" * 50},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "CACHE_URL" in result.stderr


def test_run_server_refuses_several_workers_over_a_process_local_cache():
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION and k != "CACHE_URL"}
    proc = subprocess.Popen([shutil.which("bash"), "run_server.sh"], cwd=ROOT, start_new_session=True,
                            env={**env, "WEB_CONCURRENCY": "4", "PY": sys.executable, "PORT": "0"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # it started serving: stop it, then fail below
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            err = ""
    assert proc.returncode != 0 and "CACHE_URL" in err

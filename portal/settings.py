"""Settings for the orchestrator, read from the environment (and `.env`) with django-environ.

Every variable is listed, with its default and meaning, in `.env.example` and the README.
The orchestrator owns no data: no database; a cache for sessions, locks, idempotency keys, rate
limits and the `/api/user/me` cache.
"""
import re
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Core ------------------------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
# The default only serves local runs: `check --deploy` flags it, production must set SECRET_KEY.
SECRET_KEY = env("SECRET_KEY", default="django-insecure-solo-para-desarrollo-local-no-usar-en-produccion")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "django_htmx",
    "dashboard",
    "sandbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "dashboard.middleware.RequestContextMiddleware",
    "dashboard.middleware.SecurityHeadersMiddleware",
    # CORS before anything that may answer early (413, 429), so browsers can read those answers.
    "corsheaders.middleware.CorsMiddleware",
    "dashboard.middleware.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "dashboard.middleware.ApiRateLimitMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "dashboard.middleware.ErrorMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csrf",
                "django.contrib.messages.context_processors.messages",
                "dashboard.context_processors.current_user",
            ],
        },
    },
]

# No database of its own: everything lives in the three upstream services.
DATABASES = {}

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://orchestrator")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "dashboard.cache.RedisCache"  # the same, counting failed operations

# Sessions and cookies ----------------------------------------------------------------------------
# Server-side sessions in the cache (Redis when CACHE_URL is Redis): the cookie is an opaque id,
# the upstream token never leaves the server, and signing out deletes the session for good.
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
SESSION_COOKIE_NAME = "botica_sesion"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_AGE = 60 * 60 * 24
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
MESSAGE_STORAGE = "django.contrib.messages.storage.cookie.CookieStorage"

# Security headers: HSTS and the HTTPS redirect only make sense behind TLS, so they are opt-in.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Everything the dashboard loads is ours (htmx is served from django-htmx's static files).
CONTENT_SECURITY_POLICY = env(
    "CONTENT_SECURITY_POLICY",
    default="default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; "
    "object-src 'none'",
)
# API requests per minute per signed-in caller (a token verified once), and per client address for
# everyone else (no token, or one not verified yet: inventing tokens buys no fresh budget).
API_RATE_LIMIT = env.int("API_RATE_LIMIT", default=300)
API_RATE_LIMIT_PER_ADDRESS = env.int("API_RATE_LIMIT_PER_ADDRESS", default=1200)
# Proxies in front of the orchestrator that each append to X-Forwarded-For (0: none, the client
# address is the connection's). Only that many entries from the right are believed.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Requests larger than this answer 413 (JSON under /api/).
MAX_BODY_BYTES = env.int("MAX_BODY_BYTES", default=64 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES
# Request URIs (path + query) longer than this answer 414 (JSON under /api/).
MAX_URI_BYTES = env.int("MAX_URI_BYTES", default=8192)

# Language and time -------------------------------------------------------------------------------
LANGUAGE_CODE = "es-pe"
LANGUAGES = [("es-pe", "Español (Perú)")]
TIME_ZONE = "America/Lima"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]
APPEND_SLASH = False

# Static files: whitenoise; the hashed manifest only when deployed (tests render {% static %} without one).
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env.bool("STATIC_MANIFEST", default=False)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        ),
    },
}

# CORS for /api/orchestrator/* only. An entry with "*" (e.g. http://localhost:*) matches any port.
_cors_origins = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/orchestrator/.*$"
CORS_ALLOWED_ORIGINS = [o for o in _cors_origins if "*" not in o]
CORS_ALLOWED_ORIGIN_REGEXES = [
    "^" + "[^/]*".join(map(re.escape, o.split("*"))) + "$" for o in _cors_origins if "*" in o
]
CORS_ALLOW_HEADERS = ["authorization", "content-type", "idempotency-key", "x-request-id", "accept"]
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After", "Idempotent-Replayed", "Idempotency-Key"]
CORS_ALLOW_CREDENTIALS = False

# Upstream microservices -------------------------------------------------------------------------
URL_USUARIOS_COMPRAS = env("URL_USUARIOS_COMPRAS", default="http://localhost:8081")
URL_PRODUCTOS_OFERTAS = env("URL_PRODUCTOS_OFERTAS", default="http://localhost:8082")
URL_RECETAS_MEDICOS = env("URL_RECETAS_MEDICOS", default="http://localhost:8083")
JWT_SECRET = env("JWT_SECRET", default="")
UPSTREAM_CONNECT_TIMEOUT = env.float("UPSTREAM_CONNECT_TIMEOUT", default=2.0)
UPSTREAM_READ_TIMEOUT = env.float("UPSTREAM_READ_TIMEOUT", default=5.0)
# In-flight calls per upstream per process (shared fairly between requests; also its keep-alive pool),
# and concurrent calls of one request (a listing fetches up to this many distinct products at once).
UPSTREAM_MAX_CONCURRENCY = env.int("UPSTREAM_MAX_CONCURRENCY", default=64)
UPSTREAM_REQUEST_FANOUT = env.int("UPSTREAM_REQUEST_FANOUT", default=64)
READY_TIMEOUT = env.float("READY_TIMEOUT", default=2.0)
# Honour HTTP(S)_PROXY / NO_PROXY / .netrc for upstream calls (off: they are internal services).
UPSTREAM_TRUST_ENV = env.bool("UPSTREAM_TRUST_ENV", default=False)
# CA bundle (PEM) that https upstreams' certificates are verified against; empty: certifi's public CAs.
UPSTREAM_CA_BUNDLE = env("UPSTREAM_CA_BUNDLE", default="")
if UPSTREAM_CA_BUNDLE and not Path(UPSTREAM_CA_BUNDLE).is_file():
    raise ImproperlyConfigured(f"UPSTREAM_CA_BUNDLE: no such file {UPSTREAM_CA_BUNDLE!r}")
# No chain of upstream calls made for one request may run past this many seconds.
UPSTREAM_DEADLINE = env.float("UPSTREAM_DEADLINE", default=8.0)
# Largest upstream answer read (bytes); larger -> 502 respuesta_invalida, never read whole.
UPSTREAM_MAX_BYTES = env.int("UPSTREAM_MAX_BYTES", default=10 * 1024 * 1024)
# Idempotent reads (GET) are retried once on connection errors and 502/503/504; writes never.
UPSTREAM_GET_RETRIES = env.int("UPSTREAM_GET_RETRIES", default=1)
BREAKER_FAIL_MAX = env.int("BREAKER_FAIL_MAX", default=5)
BREAKER_RESET_SECONDS = env.int("BREAKER_RESET_SECONDS", default=30)
# Zone of the naive times each service prints (the real ones run in containers without TZ: UTC).
UPSTREAM_TIMEZONE_USUARIOS = env("UPSTREAM_TIMEZONE_USUARIOS", default="UTC")
UPSTREAM_TIMEZONE_PRODUCTOS = env("UPSTREAM_TIMEZONE_PRODUCTOS", default="UTC")
# How long what was learnt about the prescriptions service's routes (its generation) is trusted.
PRESCRIPTIONS_GENERATION_SECONDS = env.int("PRESCRIPTIONS_GENERATION_SECONDS", default=300)
# How long the doctors registry, read whole when the service ignores `cmp`, is reused.
DOCTORS_CACHE_SECONDS = env.int("DOCTORS_CACHE_SECONDS", default=60)

# Business rules ----------------------------------------------------------------------------------
RECETA_VALIDEZ_DIAS = env.int("RECETA_VALIDEZ_DIAS", default=30)
MAX_LINEAS = env.int("MAX_LINEAS", default=50)
MAX_CANTIDAD = env.int("MAX_CANTIDAD", default=999)
ME_CACHE_SECONDS = env.int("ME_CACHE_SECONDS", default=60)
# Product details cached for purchase listings only (never for stock checks); 0 turns it off.
# A few seconds: a price or stock changed upstream shows in listings at most this late.
PRODUCT_CACHE_SECONDS = env.int("PRODUCT_CACHE_SECONDS", default=5)
STOCK_LOCK_TIMEOUT = env.float("STOCK_LOCK_TIMEOUT", default=10.0)
STOCK_LOCK_WAIT = env.float("STOCK_LOCK_WAIT", default=5.0)
# The purchase journal (write-ahead, append + fsync; a Redis list instead when CACHE_URL is Redis,
# with this file as its fallback). COMPENSATION_JOURNAL, its former name, is still read.
PURCHASE_JOURNAL = env("PURCHASE_JOURNAL", default=env(
    "COMPENSATION_JOURNAL", default=str(BASE_DIR / "var" / "diario-compras.jsonl")))
# Attempts resolved longer ago than this are forgotten (memory) and dropped by `manage.py
# compact_journal`: an Idempotency-Key is replayed from the journal this long (from the cache, 24 h).
PURCHASE_JOURNAL_KEEP_DAYS = env.float("PURCHASE_JOURNAL_KEEP_DAYS", default=7.0)
if PURCHASE_JOURNAL_KEEP_DAYS < 1:
    raise ImproperlyConfigured("PURCHASE_JOURNAL_KEEP_DAYS must be at least 1 (a key replays for 24 h)")
# A registration whose answer was lost is looked for this long before answering 504 resultado_incierto.
PURCHASE_GRACE_SECONDS = env.float("PURCHASE_GRACE_SECONDS", default=3.0)
# A registration not found this long after it was sent is taken as never made (its stock goes back).
PURCHASE_SETTLE_SECONDS = env.float("PURCHASE_SETTLE_SECONDS", default=120.0)
# An ADMIN account for `manage.py reconcile` (it lists everyone's purchases); prompted when interactive.
RECONCILE_ADMIN_DNI = env("RECONCILE_ADMIN_DNI", default="")
RECONCILE_ADMIN_PASSWORD = env("RECONCILE_ADMIN_PASSWORD", default="")
# Worker processes the server starts (run_server.sh, gunicorn.conf.py); >1 needs a shared cache.
WEB_CONCURRENCY = env.int("WEB_CONCURRENCY", default=1)
# Prescription decisions (append-only, fsync'ed); a Redis CACHE_URL keeps them in a shared Redis list instead.
DECISION_AUDIT_LOG = env("DECISION_AUDIT_LOG", default=str(BASE_DIR / "var" / "decisiones.jsonl"))
# People's names (users, doctors) shown beside DNI / CMP, cached this long; 0 reads them on every page.
NAMES_CACHE_SECONDS = env.int("NAMES_CACHE_SECONDS", default=60)
# How often an open queue asks for new pending prescriptions (seconds).
QUEUE_POLL_SECONDS = env.int("QUEUE_POLL_SECONDS", default=30)

# Logging: one line per event, text for people or JSON for log pipelines. --------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOG_FORMAT = env("LOG_FORMAT", default="text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "dashboard.logging.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(trace_id)s] %(message)s"},
        "json": {"()": "dashboard.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "dashboard": {"level": LOG_LEVEL},
    },
}

# Observability ------------------------------------------------------------------------------------
# /metrics answers loopback and these addresses or networks (comma-separated, CIDR allowed) only.
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
# OpenTelemetry trace export (OTLP/HTTP) only when set; the SDK reads the other OTEL_* variables.
OTEL_EXPORTER_OTLP_ENDPOINT = env("OTEL_EXPORTER_OTLP_ENDPOINT", default="")

LOGIN_URL = "dashboard:login"

# CSRF failures in the dashboard's look (an htmx request gets an alert in #alerts).
CSRF_FAILURE_VIEW = "dashboard.views.errors.csrf_failure"

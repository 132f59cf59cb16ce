"""MergeAssist settings: everything an operator changes comes from the environment."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str) -> bool:
    value = os.getenv(name, default).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def envint(name: str, default: str) -> int:
    value = os.getenv(name, default)
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def envfloat(name: str, default: str) -> float:
    value = os.getenv(name, default)
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None


# Off unless asked for: a deployment that forgets the variable must not show debug pages (with the
# URL list) to anonymous visitors or mount the sandbox. `make demo` and the tests turn it on.
DEBUG = envbool("DJANGO_DEBUG", "false")
SECRET_KEY = os.getenv("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
    # Development only: a fixed key would be a secret in the code, so make one per checkout.
    _key_file = BASE_DIR / ".secret_key"
    if not _key_file.exists():
        from django.core.management.utils import get_random_secret_key

        _key_file.write_text(get_random_secret_key())
    SECRET_KEY = _key_file.read_text().strip()

ALLOWED_HOSTS = [h.strip() for h in os.getenv("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]

# The CRM. The client appends /v2/customers/... to this base URL.
MERGEASSIST_CRM_URL = os.getenv("MERGEASSIST_CRM_URL", "http://127.0.0.1:8000/sandbox" if DEBUG else "").rstrip("/")
MERGEASSIST_CRM_API_KEY = os.getenv("MERGEASSIST_CRM_API_KEY", "")
if not DEBUG:
    # Production has no development fallbacks: without the CRM the app would start and then fail
    # on every page and every sync, so refuse to start and say which variable is missing.
    _missing = [name for name in ("MERGEASSIST_CRM_URL", "MERGEASSIST_CRM_API_KEY") if not os.getenv(name)]
    if _missing:
        raise ImproperlyConfigured(
            f"{' and '.join(_missing)} must be set when DJANGO_DEBUG is off "
            "(the CRM's base URL and its account API key; see docs/deploy.md)."
        )
if not MERGEASSIST_CRM_API_KEY and DEBUG:
    # Development: the sandbox and the client share a key made once per checkout, never in the code.
    _api_key_file = BASE_DIR / ".sandbox_api_key"
    if not _api_key_file.exists():
        import secrets

        _api_key_file.write_text("sk_sandbox_" + secrets.token_urlsafe(24))
        _api_key_file.chmod(0o600)
    MERGEASSIST_CRM_API_KEY = _api_key_file.read_text().strip()
MERGEASSIST_CRM_TIMEOUT = envfloat("MERGEASSIST_CRM_TIMEOUT", "10")
MERGEASSIST_CRM_RETRIES = envint("MERGEASSIST_CRM_RETRIES", "5")
MERGEASSIST_CRM_BACKOFF = envfloat("MERGEASSIST_CRM_BACKOFF", "0.5")
# Pages and fragments (CrmClient.for_pages): a person is waiting, so a call gets this many seconds in
# all, tries and waits included, before the page says so or falls back to the snapshot.
MERGEASSIST_CRM_PAGE_BUDGET = envfloat("MERGEASSIST_CRM_PAGE_BUDGET", "3")
MERGEASSIST_CRM_PAGE_TIMEOUT = envfloat("MERGEASSIST_CRM_PAGE_TIMEOUT", "2")
MERGEASSIST_CRM_PAGE_RETRIES = envint("MERGEASSIST_CRM_PAGE_RETRIES", "1")
# The stand-in CRM under /sandbox/. Off in production unless asked for: when off, its app is not
# installed at all (no tables, no start-up code, no generator or Faker imported).
MERGEASSIST_SANDBOX = envbool("MERGEASSIST_SANDBOX", "true" if DEBUG else "false")
# The default region for phone numbers typed without a country code.
MERGEASSIST_PHONE_REGION = os.getenv("MERGEASSIST_PHONE_REGION", "US")
# Where the scan keeps the engine's state between scans, for incremental scans (a cache: safe to delete).
MERGEASSIST_SCAN_CACHE_DIR = Path(os.getenv("MERGEASSIST_SCAN_CACHE_DIR", str(BASE_DIR / "var" / "scan-cache")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    # Before django_tasks_db: its `db_worker` command is extended there (the schedule, the worker's
    # heartbeat and the detection of abandoned jobs run beside the library's worker loop).
    "mergeassist.jobs",
    "django_tasks_db",
    "axes",
    "mergeassist.core",
    "mergeassist.crm",
    "mergeassist.review",
    "mergeassist.audit",
]
if MERGEASSIST_SANDBOX:
    INSTALLED_APPS.append("mergeassist.sandbox")

MIDDLEWARE = [
    "mergeassist.core.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "mergeassist.core.middleware.PrivatePagesMiddleware",
    "mergeassist.core.middleware.HtmxLoginRedirectMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a lock-out found during authentication into its response.
    "axes.middleware.AxesMiddleware",
]

if not DEBUG:
    # Static files from the web process itself (compressed, cached forever by their hashed names);
    # in development runserver serves them from the source folders.
    MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                      "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "mergeassist.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "mergeassist.jobs.context_processors.jobs_panel",
            ],
        },
    },
]

WSGI_APPLICATION = "mergeassist.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.getenv("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions and WAL let several workers and the web process share one file.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Tests use a real file too: an in-memory database locks whole tables instead of waiting,
    # so it cannot show how concurrent workers behave.
    # One per process, so two test runs on one machine never share a file.
    DATABASES["default"]["TEST"] = {"NAME": f"/tmp/mergeassist-test-{os.getpid()}.sqlite3"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Lock-out (django-axes): after MERGEASSIST_LOGIN_FAILURE_LIMIT failed logins for one username, or
# from one address, within MERGEASSIST_LOGIN_LOCKOUT_MINUTES, further logins are refused (even with
# the right password) until that long has passed without another try. Each failure is recorded
# (admin: "Access attempts" and "Access failures", superusers only).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first, so a locked-out login never reaches a password check
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("MERGEASSIST_LOGIN_FAILURE_LIMIT", "5")
AXES_COOLOFF_TIME = timedelta(minutes=envint("MERGEASSIST_LOGIN_LOCKOUT_MINUTES", "15"))
# Either one locks: a username tried from many addresses, or one address trying many usernames.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # one row per failure: who, from where, when
AXES_LOCKOUT_CALLABLE = "mergeassist.core.views.locked_out"
# The address is REMOTE_ADDR (axes' default). Behind a reverse proxy every login would share the
# proxy's address: set django-axes' AXES_IPWARE_* settings for the proxy before deploying there.

LOGIN_URL = "/accounts/login/"
# Home sends each person to the first page their role opens (mergeassist.core.access.LANDING_PAGES).
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.getenv("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
if not DEBUG:
    # `collectstatic` writes hashed, compressed copies that whitenoise serves with far-future caching.
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }

# Scripts only with the page's nonce ({% htmx_script %} adds it to htmx); no inline styles at all.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
}
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie; kept default.
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
# Office machines are shared: a session ends when the browser closes and after an idle hour
# (each request renews it), so the next person at the desk is not logged in as the last one.
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_AGE = envint("MERGEASSIST_SESSION_IDLE_MINUTES", "60") * 60
SESSION_SAVE_EVERY_REQUEST = True
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.getenv("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]
if not DEBUG:
    SESSION_COOKIE_SECURE = envbool("DJANGO_SECURE_COOKIES", "true")
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_SSL_REDIRECT = envbool("DJANGO_SECURE_SSL_REDIRECT", "true")
    SECURE_HSTS_SECONDS = envint("DJANGO_SECURE_HSTS_SECONDS", str(365 * 24 * 3600))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", "true")
    SECURE_HSTS_PRELOAD = envbool("DJANGO_SECURE_HSTS_PRELOAD", "true")
    # Behind a proxy that ends TLS: the header it sets, e.g. "X-Forwarded-Proto" (only when the
    # proxy always sets it; otherwise a client could claim https itself).
    if _proxy_header := os.getenv("DJANGO_SECURE_PROXY_SSL_HEADER", ""):
        SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_header.strip().upper().replace("-", "_"), "https")
# The load balancer's probe comes over plain HTTP on the inside network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Logs: JSON lines (one object per line, with the request id) unless DJANGO_LOG_FORMAT=text.
LOG_FORMAT = os.getenv("DJANGO_LOG_FORMAT", "text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"DJANGO_LOG_FORMAT must be json or text, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "mergeassist.core.logs.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "mergeassist.core.logs.JsonLinesFormatter"},
        "text": {"format": "%(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}
    },
    "root": {"handlers": ["console"], "level": os.getenv("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        "urllib3": {"level": "WARNING"},
        "faker": {"level": "WARNING"},
        # django-axes says "BEGIN version ..." at every start, on every command's stderr; its
        # failed-login and lock-out lines are warnings and still show.
        "axes.apps": {"level": "WARNING"},
    },
}

# Background jobs (sync and scan) run by `manage.py db_worker`.
# A running job's worker beats every few seconds; one silent for this long is presumed dead,
# marked abandoned and re-run (a sync resumes from its last committed page).
MERGEASSIST_JOB_HEARTBEAT_SECONDS = envfloat("MERGEASSIST_JOB_HEARTBEAT_SECONDS", "5")
MERGEASSIST_JOB_STALE_SECONDS = envfloat("MERGEASSIST_JOB_STALE_SECONDS", "60")
# How many times a job is re-run after its worker died before it is left for a person to look at.
MERGEASSIST_JOB_MAX_ATTEMPTS = envint("MERGEASSIST_JOB_MAX_ATTEMPTS", "3")
# What the workers start on their own (no cron): name -> job and interval in minutes (0 = off).
# Every sync, scheduled or pressed, is followed by a scan through the task queue.
MERGEASSIST_SCHEDULE: dict[str, dict[str, object]] = {
    "incremental-sync": {"job": "sync", "every_minutes": envint("MERGEASSIST_SYNC_EVERY_MINUTES", "15")},
}

# Matching: the defaults come from docs/matching.md.
# Unset means the engine's measured default (mergeassist.matching.DEFAULT_THRESHOLD).
MERGEASSIST_MATCH_THRESHOLD: float | None = (
    envfloat("MERGEASSIST_MATCH_THRESHOLD", "0") if os.getenv("MERGEASSIST_MATCH_THRESHOLD") else None
)
# Per-field weight overrides, e.g. {"email": 30}; empty means the engine's defaults.
MERGEASSIST_MATCH_WEIGHTS: dict[str, float] = {}

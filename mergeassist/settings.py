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


DEBUG = envbool("DJANGO_DEBUG", "true")
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
MERGEASSIST_CRM_URL = os.getenv("MERGEASSIST_CRM_URL", "http://127.0.0.1:8000/sandbox").rstrip("/")
MERGEASSIST_CRM_API_KEY = os.getenv("MERGEASSIST_CRM_API_KEY", "")
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
# Serve the stand-in CRM under /sandbox/. Off in production unless asked for.
MERGEASSIST_SANDBOX = envbool("MERGEASSIST_SANDBOX", "true" if DEBUG else "false")
# The default region for phone numbers typed without a country code.
MERGEASSIST_PHONE_REGION = os.getenv("MERGEASSIST_PHONE_REGION", "US")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tasks_db",
    "axes",
    "mergeassist.core",
    "mergeassist.crm",
    "mergeassist.review",
    "mergeassist.audit",
    "mergeassist.sandbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a lock-out found during authentication into its response.
    "axes.middleware.AxesMiddleware",
]

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
STATIC_ROOT = BASE_DIR / "staticfiles"

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "frame-ancestors": [CSP.NONE],
}
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie; kept default.
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = envbool("DJANGO_SECURE_COOKIES", "true")
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.getenv("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        "urllib3": {"level": "WARNING"},
        "faker": {"level": "WARNING"},
        # django-axes says "BEGIN version ..." at every start, on every command's stderr; its
        # failed-login and lock-out lines are warnings and still show.
        "axes.apps": {"level": "WARNING"},
    },
}

# Matching: the defaults come from docs/matching.md.
# Unset means the engine's measured default (mergeassist.matching.DEFAULT_THRESHOLD).
MERGEASSIST_MATCH_THRESHOLD: float | None = (
    envfloat("MERGEASSIST_MATCH_THRESHOLD", "0") if os.getenv("MERGEASSIST_MATCH_THRESHOLD") else None
)
# Per-field weight overrides, e.g. {"email": 30}; empty means the engine's defaults.
MERGEASSIST_MATCH_WEIGHTS: dict[str, float] = {}

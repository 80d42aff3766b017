"""Settings for the credit decision platform.

One module, read entirely from the environment (12-factor). Every variable is listed in
``.env.example`` and in the README's configuration table. Development and production
differ only in environment values: ``ENVIRONMENT=production`` turns on the secure
defaults and makes the secrets mandatory.

Embedded default (no environment at all): SQLite file under ``var/``, Celery tasks run
in-process. ``DATABASE_URL``, ``CELERY_BROKER_URL`` and ``REDIS_URL`` switch to
PostgreSQL, real workers and Redis without a code change.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from celery.schedules import crontab
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from creditplatform.env import (
    env_bool,
    env_choice,
    env_db_url,
    env_float,
    env_int,
    env_list,
    env_path,
    env_str,
    load_env_file,
)

BASE_DIR = Path(__file__).resolve().parent.parent

# A local .env file is a convenience for development; real deployments inject variables,
# which win over the file. ENV_FILE (in the real environment) points at another file.
load_env_file(
    env_path("ENV_FILE", BASE_DIR / ".env", base=Path.cwd()),
    required=bool(os.environ.get("ENV_FILE", "").strip()),
)
VAR_DIR = env_path("VAR_DIR", BASE_DIR / "var", base=BASE_DIR)

ENVIRONMENT = env_choice("ENVIRONMENT", "development", ("development", "test", "production"))
PRODUCTION = ENVIRONMENT == "production"

DEBUG = env_bool("DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when ENVIRONMENT=production")


def _local_secret_key(path: Path) -> str:
    """A per-checkout random key for local runs, never committed (var/ is ignored).

    The processes ``make run`` starts together (gunicorn's workers, Celery's worker and beat)
    may all find it missing: each writes a complete key to a file of its own, then links it
    into place, which only the first does (an atomic link never replaces). Every process
    then reads the same whole key, never a half-written or an empty one.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(64))
            os.link(draft, path)
        except FileExistsError:
            pass  # another process's key is in place
        finally:
            draft.unlink()
    return path.read_text().strip()


def _check_production_secret(name: str, key: str) -> None:
    """Django's own bar for a key (``check --deploy`` W009): 50+ characters, 5+ different ones."""
    if len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure-"):
        raise ImproperlyConfigured(
            f"{name} is too weak for ENVIRONMENT=production: use at least 50 random characters, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(64))'"
        )


SECRET_KEY = env_str("SECRET_KEY")
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])
if PRODUCTION:
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY is required when ENVIRONMENT=production")
    _check_production_secret("SECRET_KEY", SECRET_KEY)
    for _old_key in SECRET_KEY_FALLBACKS:
        _check_production_secret("SECRET_KEY_FALLBACKS", _old_key)
elif not SECRET_KEY:
    SECRET_KEY = _local_secret_key(VAR_DIR / "secret_key")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required when ENVIRONMENT=production")
if PRODUCTION and any("*" in host for host in ALLOWED_HOSTS):
    # A wildcard lets any Host header through: poisoned password-reset links and caches.
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS must name the hosts when ENVIRONMENT=production ('*' is refused); "
        "a leading dot allows subdomains: .example.com"
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # django-unfold: the admin's theme, dashboard components and Chart.js (all served locally).
    # Before django.contrib.admin so that its templates win.
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.guardian",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "mozilla_django_oidc",
    "django_celery_beat",
    "django_celery_results",
    "django_prometheus",
    "axes",
    "pgtrigger",
    # Project apps. Dependencies point one way: monitoring and privacy read the others;
    # audit is read by nobody and written by everybody (one service, audit_record).
    "audit",
    "accounts",
    "scoring",
    "fraud",
    "monitoring",
    "governance",
    "privacy",
]

MIDDLEWARE = [
    "monitoring.middleware.RequestIdMiddleware",
    "monitoring.middleware.PrometheusBeforeMiddleware",  # django-prometheus's, written in batches
    "django.middleware.security.SecurityMiddleware",
    "creditplatform.middleware.ContentSecurityPolicyMiddleware",  # django-csp (+ the OIDC provider)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "creditplatform.middleware.JsonErrorsMiddleware",
    "creditplatform.middleware.RequestBodyLimitMiddleware",  # no body longer than the largest upload is read
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.OidcSessionRefresh",  # re-checks OIDC logins every few minutes
    "accounts.middleware.AccessCountingMiddleware",  # every 401/403 counted once
    "creditplatform.middleware.LazyMessageMiddleware",  # Django's, storage built on first use
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "creditplatform.middleware.NoStoreMiddleware",
    "monitoring.middleware.ApiCallLogMiddleware",
    # django-prometheus's, with method labels from a fixed set (bounded /metrics).
    "monitoring.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes requires: turns a lockout into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "creditplatform.urls"
WSGI_APPLICATION = "creditplatform.wsgi.application"
# POST /score and /fraude with an API key answered without Django's middleware chain and DRF's
# request cycle, by the same code (creditplatform.fastpath; docs/performance.md). Off: every
# request goes through the full stack.
FAST_DECISION_PATH = env_bool("FAST_DECISION_PATH", True)

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
                "accounts.context_processors.login_options",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": env_db_url("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60, minimum=0)
# Off by default: the check is a SELECT 1 before each request's first query. Without it a
# connection the database dropped fails one request and is then replaced.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env_bool("DB_CONN_HEALTH_CHECKS", False)
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Seconds to wait for a new PostgreSQL connection: a database host that does not answer
# (rather than refusing) would otherwise hold a request for the kernel's TCP timeout,
# minutes. A connect_timeout in DATABASE_URL's query string wins.
DB_CONNECT_TIMEOUT = env_int("DB_CONNECT_TIMEOUT", 3, minimum=2)
# The decision hot paths' statements (the fraud velocity query, the /fraude and /score
# inserts) as server-side prepared statements: PREPARE once per session, EXECUTE per
# request (planning the velocity query cost three times running it). Off behind a connection
# pooler in transaction mode (PgBouncer), which does not keep a session per client.
DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", True)
# Long reads (the batch result file, the decision replay, the monthly performance and
# fairness reports) fetch their rows in chunks through server-side cursors. Off behind a
# pooler in transaction mode too, which cannot keep a cursor open between transactions:
# the rows are then fetched by the client in chunks (memory grows with the result).
DB_SERVER_SIDE_CURSORS = env_bool("DB_SERVER_SIDE_CURSORS", True)
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = not DB_SERVER_SIDE_CURSORS
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", DB_CONNECT_TIMEOUT)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; the timeout waits for locks
    # instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )
    VAR_DIR.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/admin/login/"
LOGIN_REDIRECT_URL = "/admin/"
GUARDIAN_RAISE_403 = True
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row

# --- OpenID Connect: staff login and API bearer tokens (docs/access.md) ------------------
# Names follow mozilla-django-oidc. With none of them set nothing changes: password login
# for everyone (the demo). With them set, staff log in through the provider and only the
# break-glass account (BREAK_GLASS_USERNAME, a superuser) may still use a password.
OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = env_str("OIDC_RP_CLIENT_SECRET", "")
OIDC_OP_ISSUER = env_str("OIDC_OP_ISSUER", "")
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_OP_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_OP_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = env_str("OIDC_OP_USER_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_OP_JWKS_ENDPOINT", "")
OIDC_OP_LOGOUT_ENDPOINT = env_str("OIDC_OP_LOGOUT_ENDPOINT", "")
OIDC_RP_SIGN_ALGO = env_str("OIDC_RP_SIGN_ALGO", "RS256")
if OIDC_RP_SIGN_ALGO not in {"RS256", "ES256"}:
    raise ImproperlyConfigured("OIDC_RP_SIGN_ALGO must be RS256 or ES256 (never HS256 or none)")
OIDC_RP_SCOPES = env_str("OIDC_RP_SCOPES", "openid email profile")
OIDC_ROLES_CLAIM = env_str("OIDC_ROLES_CLAIM", "groups")


def _role_map(raw: str) -> dict[str, str]:
    """``credit-officers:analyst,risk-admins:admin`` -> {claim value: role}."""
    roles = {"admin", "analyst", "viewer", "compliance"}
    mapping: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        value, sep, role = item.rpartition(":")
        if not sep or not value or role not in roles:
            raise ImproperlyConfigured(f"OIDC_ROLE_MAP: {item!r} is not <claim value>:<{'|'.join(sorted(roles))}>")
        mapping[value] = role
    return mapping


OIDC_ROLE_MAP = _role_map(env_str("OIDC_ROLE_MAP", ""))
OIDC_USE_PKCE = env_bool("OIDC_USE_PKCE", True)
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_USE_NONCE = True
OIDC_VERIFY_SSL = env_bool("OIDC_VERIFY_SSL", True)
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT", 5)
# How long a login stays trusted before a silent re-check at the provider (roles re-synced).
OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = env_int("OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS", 300)
OIDC_STORE_ID_TOKEN = True  # id_token_hint for the provider's logout
OIDC_CALLBACK_CLASS = "accounts.oidc.CallbackView"
OIDC_AUTHENTICATE_CLASS = "accounts.oidc.AuthenticateView"
OIDC_OP_LOGOUT_URL_METHOD = "accounts.oidc.provider_logout_url"
OIDC_EXEMPT_URLS = ["/api/v1/health", "/metrics"]
OIDC_API_AUDIENCE = env_str("OIDC_API_AUDIENCE", "") or OIDC_RP_CLIENT_ID
OIDC_API_ALGORITHMS = env_list("OIDC_API_ALGORITHMS", ["RS256", "ES256"])
if not set(OIDC_API_ALGORITHMS) <= {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"}:
    raise ImproperlyConfigured("OIDC_API_ALGORITHMS: asymmetric algorithms only (RS*, PS*, ES256/384)")
OIDC_LEEWAY_SECONDS = env_int("OIDC_LEEWAY_SECONDS", 30)
# API access tokens (accounts.tokens.check_claims): RFC 9068 JWTs (header typ at+jwt, claims
# client_id and jti), as the bundled provider, Keycloak (with its option on), Okta and
# others issue; 0 accepts any typ for providers that do not. A token living longer than
# OIDC_API_MAX_TOKEN_LIFETIME_SECONDS (exp - iat) is refused: a leaked token must not stay
# good for days. Audiences beyond OIDC_API_AUDIENCE are refused unless listed in
# OIDC_API_EXTRA_AUDIENCES (some providers add their own userinfo audience).
OIDC_API_REQUIRE_AT_JWT = env_bool("OIDC_API_REQUIRE_AT_JWT", True)
OIDC_API_MAX_TOKEN_LIFETIME_SECONDS = env_int("OIDC_API_MAX_TOKEN_LIFETIME_SECONDS", 3600, minimum=60)
OIDC_API_EXTRA_AUDIENCES = env_list("OIDC_API_EXTRA_AUDIENCES", [])
OIDC_JWKS_CACHE_SECONDS = env_int("OIDC_JWKS_CACHE_SECONDS", 300)
OIDC_JWKS_MIN_REFRESH_SECONDS = env_int("OIDC_JWKS_MIN_REFRESH_SECONDS", 60)
OIDC_JWKS_TIMEOUT = env_float("OIDC_JWKS_TIMEOUT", 3.0)
# Share the fetched key set and the once-a-minute limit between processes (Django cache,
# i.e. Redis when REDIS_URL is set; see the Caches block below).
OIDC_JWKS_SHARED_CACHE = env_bool("OIDC_JWKS_SHARED_CACHE", bool(env_str("REDIS_URL", "")))
BREAK_GLASS_USERNAME = env_str("BREAK_GLASS_USERNAME", "")

_OIDC_LOGIN_VARS = {
    "OIDC_RP_CLIENT_ID": OIDC_RP_CLIENT_ID,
    "OIDC_OP_ISSUER": OIDC_OP_ISSUER,
    "OIDC_OP_AUTHORIZATION_ENDPOINT": OIDC_OP_AUTHORIZATION_ENDPOINT,
    "OIDC_OP_TOKEN_ENDPOINT": OIDC_OP_TOKEN_ENDPOINT,
    "OIDC_OP_USER_ENDPOINT": OIDC_OP_USER_ENDPOINT,
    "OIDC_OP_JWKS_ENDPOINT": OIDC_OP_JWKS_ENDPOINT,
}
if any(_OIDC_LOGIN_VARS.values()) and not all(_OIDC_LOGIN_VARS.values()):
    _missing = ", ".join(name for name, value in _OIDC_LOGIN_VARS.items() if not value)
    raise ImproperlyConfigured(f"OIDC is partly configured; also set {_missing}")
# Read at request time (never cached at import), so tests can switch them with `settings`.
OIDC_ENABLED = all(_OIDC_LOGIN_VARS.values())
OIDC_API_ENABLED = bool(OIDC_OP_ISSUER and OIDC_OP_JWKS_ENDPOINT and OIDC_API_AUDIENCE)

AUTHENTICATION_BACKENDS = [
    # First: refuses a (username, address) locked out after repeated password failures.
    "axes.backends.AxesStandaloneBackend",
    # Password login: everyone while OIDC is off; only BREAK_GLASS_USERNAME once it is on.
    "accounts.backends.PasswordBackend",
    "accounts.oidc.CreditOIDCBackend",  # does nothing while OIDC is off
    "guardian.backends.ObjectPermissionBackend",
]

# --- Password login lockout (django-axes; accounts/lockout.py) --------------------------
# After LOGIN_FAILURE_LIMIT failed password logins for one username from one address, that
# pair is refused for LOGIN_COOLOFF_MINUTES (counted from the last attempt). A success
# resets the count; an admin unlocks sooner. Attempts are rows in the database, so all
# processes agree in every mode.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_WHITELIST_CALLABLE = "accounts.lockout.is_not_a_password_login"
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_ENABLE_ADMIN = False  # accounts.admin registers the attempts page (admins only)
AXES_DISABLE_ACCESS_LOG = True  # successful logins: Django's last_login is enough
AXES_VERBOSE = False  # no start-up banner; failures are still logged, usernames and addresses masked

# API keys: how often `last_used_at` is written (a write per request would slow the hot path).
API_KEY_LAST_USED_RESOLUTION_SECONDS = env_int("API_KEY_LAST_USED_RESOLUTION_SECONDS", 60)
# Key rows are cached per process this long: a key revoked elsewhere stops within it (0 = off).
API_KEY_CACHE_SECONDS = env_float("API_KEY_CACHE_SECONDS", 5.0)
# Throttle leases (accounts.throttling): a process takes up to this many tokens from the
# shared Redis counter in one round trip, 1/THROTTLE_LEASE_DIVISOR of the limit, at least 1.
# THROTTLE_LEASE_MAX=1 is one round trip per request (no lease).
THROTTLE_LEASE_MAX = env_int("THROTTLE_LEASE_MAX", 64, minimum=1)
THROTTLE_LEASE_DIVISOR = env_int("THROTTLE_LEASE_DIVISOR", 100, minimum=1)

# --- Admin theme (django-unfold) ---------------------------------------------------------
UNFOLD = {
    "SITE_TITLE": "Credit decision platform",
    "SITE_HEADER": "Credit decision platform",
    "SITE_SUBHEADER": "Back office",
    "SITE_SYMBOL": "account_balance",
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    # The front page: key figures and charts for viewers and up (monitoring/dashboard.py).
    "DASHBOARD_CALLBACK": "monitoring.dashboard.dashboard_callback",
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": False,
        "navigation": "creditplatform.admin_navigation.sidebar",  # every model the person may view
    },
    "ENVIRONMENT": "monitoring.dashboard.environment_label",
}

# --- Internationalisation -------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = env_path("STATIC_ROOT", VAR_DIR / "static", base=BASE_DIR)
MEDIA_ROOT = env_path("MEDIA_ROOT", VAR_DIR / "media", base=BASE_DIR)
MEDIA_URL = "/media/"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# --- Request limits -------------------------------------------------------------------
# The API takes small JSON bodies; batch files have their own upload path and cap.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env_int("DATA_UPLOAD_MAX_NUMBER_FIELDS", 1000, minimum=1)
API_MAX_JSON_DEPTH = env_int("API_MAX_JSON_DEPTH", 32, minimum=1)
# Keys per JSON object and in the whole body, and field errors per answer: a body of 70,000
# unknown keys used to cost a second and a 2 MB error. The widest model schema and a full
# /score/batch stay well inside.
API_MAX_JSON_KEYS_PER_OBJECT = env_int("API_MAX_JSON_KEYS_PER_OBJECT", 1000, minimum=1)
API_MAX_JSON_KEYS = env_int("API_MAX_JSON_KEYS", 50_000, minimum=1)
API_MAX_ERRORS = env_int("API_MAX_ERRORS", 50, minimum=1)

# --- Security -------------------------------------------------------------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", PRODUCTION)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    # Only behind a proxy that sets this header itself and strips it from clients.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", PRODUCTION)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=60)
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): pages run only the scripts this site serves (no
# inline script, no eval), load nothing from elsewhere, and cannot be framed. Inline styles
# stay allowed: ReDoc and Swagger UI inject theirs, and styles cannot run code. Swagger UI
# and ReDoc are served from drf-spectacular-sidecar's static files, their start-up code
# from files too (templates/drf_spectacular/). creditplatform.middleware adds the OIDC
# provider to form-action (the admin's logout form ends there). A view serving a
# self-contained report must relax the policy for itself, never globally: the admin adds
# 'unsafe-eval' (django-unfold's Alpine.js; creditplatform.middleware) and Evidently's drift
# report is served in a sandbox of its own (monitoring.admin). docs/security.md says why.
# Answers that are not HTML get a fixed policy allowing nothing (creditplatform.middleware).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "worker-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- REST framework -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Bearer first: its WWW-Authenticate header is the one a 401 carries.
        "accounts.authentication.JWTBearerAuthentication",
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Deny by default: every view names the roles it lets in.
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.DenyAll"],
    "DEFAULT_PARSER_CLASSES": ["creditplatform.api.parsers.SafeJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "creditplatform.api.negotiation.JsonFirstContentNegotiation",
    "DEFAULT_RENDERER_CLASSES": ["creditplatform.api.renderers.OrjsonRenderer"]
    + ([] if PRODUCTION else ["rest_framework.renderers.BrowsableAPIRenderer"]),
    "DEFAULT_PAGINATION_CLASS": "creditplatform.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        # An unknown query parameter on a list is a 400 naming it (DRF ignores it: a typo lists everything).
        "creditplatform.api.filters.KnownQueryParamsFilter",
        "creditplatform.api.filters.StrictDjangoFilterBackend",  # django-filter's; names every bad value at once
        # A bad ?ordering= or ?search= is a 400 naming it (DRF's own ignore or pass them).
        "creditplatform.api.filters.StrictOrderingFilter",
        "creditplatform.api.filters.StrictSearchFilter",
    ],
    "EXCEPTION_HANDLER": "creditplatform.api.exceptions.json_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # One bucket per API key, per user or token subject, per address for anonymous callers
    # (accounts.throttling). Not a security control (DRF's counter is not atomic): quotas
    # that must hold belong in the proxy or an atomic limiter.
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttling.PrincipalRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "apikey": env_str("THROTTLE_RATE_APIKEY", "100000/min"),
        "user": env_str("THROTTLE_RATE_USER", "6000/min"),
        "anon": env_str("THROTTLE_RATE_ANON", "600/min"),
    },
    "NUM_PROXIES": env_int("NUM_PROXIES", 0, minimum=0),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Credit decision platform API",
    "DESCRIPTION": (
        "Credit (`/score`) and fraud (`/fraude`) decisions with reason codes, "
        "and read access to the records behind them."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "creditplatform.api.schema.blank_alternatives_any_of",
        "creditplatform.api.schema.document_errors",
        "creditplatform.api.schema.document_headers",
        "creditplatform.api.schema.document_list_limits",
    ],
    # Credit and fraud decisions both have a "decision" field, with different values.
    "ENUM_NAME_OVERRIDES": {
        "FraudDecisionEnum": "fraud.choices.FraudDecisionOutcome",
        "CreditDecisionEnum": "scoring.choices.CreditDecisionOutcome",
        "TransactionTypeEnum": "fraud.choices.TransactionType",
        "BatchJobStatusEnum": "scoring.choices.BatchJobStatus",
    },
}

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
EMBEDDED_TASKS = not CELERY_BROKER_URL
if EMBEDDED_TASKS:
    # Embedded default: tasks run in-process, even when beat fires them.
    CELERY_BROKER_URL = "memory://localhost/"
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_TASK_EAGER_PROPAGATES = True
# django-celery-results' database backend, failures stored redacted as the logs are (monitoring.results).
CELERY_RESULT_BACKEND = "monitoring.results:RedactingDatabaseBackend"
CELERY_RESULT_EXTENDED = True
CELERY_RESULT_EXPIRES = 7 * 24 * 3600
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
# A task is acknowledged only when it has finished, and handed back if its worker dies:
# with idempotent tasks this is what makes a killed worker lose nothing.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 270)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Must exceed the longest task runtime, or Redis redelivers a running task.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1),
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# django-celery-beat's DatabaseScheduler, leaving out the rows the admin's check refuses (monitoring.beat).
CELERY_BEAT_SCHEDULER = "monitoring.beat:PlatformScheduler"
# The platform's fixed periodic jobs. django-celery-beat's DatabaseScheduler writes these
# over their database rows at every beat start (not their enabled flag), so the admin shows
# them read-only (creditplatform.celery.platform_periodic_tasks); the schedules admins own
# (the nightly drift report, the monthly performance report) are created by data migrations
# instead.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "monitoring-heartbeat": {
        "task": "monitoring.tasks.heartbeat",
        "schedule": crontab(minute="*/5"),  # every 5 minutes
    },
    "privacy-retention": {
        "task": "privacy.tasks.retention_run",
        "schedule": crontab(hour=2, minute=30),  # nightly, 02:30 UTC
    },
    "scoring-batch-reconcile": {
        "task": "scoring.tasks.batch_reconcile",
        "schedule": crontab(minute="*"),  # every minute: chunks never run, or whose worker vanished
    },
    "scoring-webhooks-reconcile": {
        "task": "scoring.tasks.decision_webhooks_reconcile",
        "schedule": crontab(minute="*"),  # every minute: deliveries the broker refused or lost
    },
    "audit-checkpoint": {
        "task": "audit.tasks.audit_checkpoint",
        "schedule": crontab(minute="*/5"),  # every 5 minutes: the chain's head, signed, outside the database
    },
    "monitoring-drift-alerts-reconcile": {
        "task": "monitoring.tasks.drift_alerts_reconcile",
        "schedule": crontab(minute="*"),  # every minute: drift alert webhooks the broker refused or lost
    },
}

REDIS_URL = env_str("REDIS_URL", "")
# Tests: a test whose service (PostgreSQL, Redis, worker, provider, Chromium) is missing
# fails instead of being skipped (CI sets it).
REQUIRE_SERVICES = env_bool("REQUIRE_SERVICES", False)

# --- Caches ---------------------------------------------------------------------------
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "TIMEOUT": 300,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Models and credit decisions (docs/scoring.md) ---------------------------------------
# How often each process asks the registry whether the champion changed (one small query);
# the process that changes the registry reloads at once.
MODEL_REFRESH_SECONDS = env_float("MODEL_REFRESH_SECONDS", 2.0, minimum=0)
# Reason codes returned per decision (features that pushed the probability of default up most).
SCORE_REASON_COUNT = env_int("SCORE_REASON_COUNT", 4)
if not 3 <= SCORE_REASON_COUNT <= 10:
    raise ImproperlyConfigured("SCORE_REASON_COUNT must be between 3 and 10")
# Risk bands: HIGH at or above the model's threshold (refused), MEDIUM from this fraction
# of the threshold, LOW below.
SCORE_MEDIUM_RISK_FRACTION = env_float("SCORE_MEDIUM_RISK_FRACTION", 0.5, minimum=0, maximum=1)
SCORE_BATCH_MAX_ITEMS = env_int("SCORE_BATCH_MAX_ITEMS", 100, minimum=1)
# A version with a refer band also refers a decision when the features missing carry more
# than this share of the model's importance (gain); 1 turns that rule off.
SCORE_REFER_MISSING_SHARE = env_float("SCORE_REFER_MISSING_SHARE", 0.5, minimum=0, maximum=1)
# Decision webhooks (POST /api/v1/webhooks): per attempt timeout, retries and the first backoff (doubling).
DECISION_WEBHOOK_TIMEOUT = env_float("DECISION_WEBHOOK_TIMEOUT", 5.0, minimum=0.1)
DECISION_WEBHOOK_MAX_RETRIES = env_int("DECISION_WEBHOOK_MAX_RETRIES", 6, minimum=0, maximum=20)
DECISION_WEBHOOK_BACKOFF_SECONDS = env_float("DECISION_WEBHOOK_BACKOFF_SECONDS", 30.0, minimum=0)
# A pending delivery whose next attempt is overdue by this much lost its message: the
# reconciler (beat, every minute) sends it again. One the broker refused is sent at once.
DECISION_WEBHOOK_REQUEUE_AFTER_SECONDS = env_int("DECISION_WEBHOOK_REQUEUE_AFTER_SECONDS", 900, minimum=1)
# A caller's webhook must lead to a public address (no loopback, private, link-local... : SSRF);
# on only for local development and tests whose receiver listens on 127.0.0.1.
DECISION_WEBHOOK_ALLOW_PRIVATE_TARGETS = env_bool("DECISION_WEBHOOK_ALLOW_PRIVATE_TARGETS", False)
# The lender named on adverse-action notices (GET /api/v1/predictions/{id}/notice).
CREDIT_NOTICE_LENDER_NAME = env_str("CREDIT_NOTICE_LENDER_NAME", "Credit Platform Bank")
CREDIT_NOTICE_LENDER_CONTACT = env_str(
    "CREDIT_NOTICE_LENDER_CONTACT", "Credit review team, credit-review@example.com, +33 1 00 00 00 00"
)
# Business cost used to pick a new model's threshold: a missed default (false negative)
# costs this many times a wrongly refused good applicant (seed 004's rule: 10).
CREDIT_COST_FALSE_NEGATIVE = env_float("CREDIT_COST_FALSE_NEGATIVE", 10.0)
CREDIT_COST_FALSE_POSITIVE = env_float("CREDIT_COST_FALSE_POSITIVE", 1.0)

# --- Batch scoring jobs (docs/batch.md) ------------------------------------------------
# Largest file accepted (bytes; more is a 413 before it is read) and most applicant rows.
BATCH_UPLOAD_MAX_BYTES = env_int("BATCH_UPLOAD_MAX_BYTES", 128 * 1024 * 1024, minimum=1)
BATCH_MAX_ROWS = env_int("BATCH_MAX_ROWS", 2_000_000, minimum=1)
# Rows per chunk: the unit a worker scores and stores in one transaction.
BATCH_CHUNK_ROWS = env_int("BATCH_CHUNK_ROWS", 10_000, minimum=1)
# Attempts per chunk (errors and lost workers alike) before it becomes a dead letter.
BATCH_CHUNK_MAX_ATTEMPTS = env_int("BATCH_CHUNK_MAX_ATTEMPTS", 3, minimum=1, maximum=20)
# Delay before a failed chunk is tried again; doubled at each further attempt.
BATCH_RETRY_BACKOFF_SECONDS = env_float("BATCH_RETRY_BACKOFF_SECONDS", 10.0, minimum=0)
# The reconciler (beat, every minute) re-enqueues a running chunk claimed longer ago than
# this (its worker vanished: no live attempt outlasts the hard time limit), and a pending
# one the broker took longer ago than BATCH_REQUEUE_AFTER_SECONDS (its message was lost).
BATCH_CHUNK_STALE_SECONDS = env_int("BATCH_CHUNK_STALE_SECONDS", CELERY_TASK_TIME_LIMIT + 60)
BATCH_REQUEUE_AFTER_SECONDS = env_int("BATCH_REQUEUE_AFTER_SECONDS", 900, minimum=1)
# A dead-lettered chunk keeps its rows (never decided) for a retry this many days after it
# was given up; then the retention job deletes it (docs/batch.md, docs/privacy.md).
BATCH_DEAD_LETTER_RETENTION_DAYS = env_int("BATCH_DEAD_LETTER_RETENTION_DAYS", 30, minimum=1)
if BATCH_CHUNK_STALE_SECONDS <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("BATCH_CHUNK_STALE_SECONDS must exceed CELERY_TASK_TIME_LIMIT")

# --- Fraud decisions (docs/fraud.md) ----------------------------------------------------
# How often each process asks whether the rules or the thresholds changed (one small query
# each); the process that changes them reloads at once.
FRAUD_CONFIG_REFRESH_SECONDS = env_float("FRAUD_CONFIG_REFRESH_SECONDS", 2.0, minimum=0)
# What "night" and "foreign" mean for the rules and the model: the bank's time zone, home
# country (ISO 3166-1 alpha-2) and home currency (ISO 4217).
FRAUD_TIME_ZONE = env_str("FRAUD_TIME_ZONE", "Europe/Paris")
FRAUD_HOME_COUNTRY = env_str("FRAUD_HOME_COUNTRY", "FR")
FRAUD_HOME_CURRENCY = env_str("FRAUD_HOME_CURRENCY", "EUR")
try:
    ZoneInfo(FRAUD_TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError) as _exc:
    raise ImproperlyConfigured(f"FRAUD_TIME_ZONE: unknown time zone {FRAUD_TIME_ZONE!r}") from _exc
if not re.fullmatch(r"[A-Z]{2}", FRAUD_HOME_COUNTRY) or not re.fullmatch(r"[A-Z]{3}", FRAUD_HOME_CURRENCY):
    raise ImproperlyConfigured("FRAUD_HOME_COUNTRY is two capital letters, FRAUD_HOME_CURRENCY three")
# Largest amount /fraude accepts (larger is a 400: more likely a unit or typing error).
FRAUD_MAX_AMOUNT = env_int("FRAUD_MAX_AMOUNT", 10_000_000, minimum=1)
# A transaction timestamp may be this far ahead of the server clock (clock skew), and no
# earlier than FRAUD_TIMESTAMP_EARLIEST (a date, midnight UTC); outside that range it is a
# typo and a 400. Past timestamps in between are scored as of that time (a migrating bank
# replays its history).
FRAUD_TIMESTAMP_MAX_FUTURE_SECONDS = env_int("FRAUD_TIMESTAMP_MAX_FUTURE_SECONDS", 300, minimum=0)
try:
    FRAUD_TIMESTAMP_EARLIEST = dt.datetime.combine(
        dt.date.fromisoformat(env_str("FRAUD_TIMESTAMP_EARLIEST", "2000-01-01")), dt.time(), tzinfo=dt.UTC
    )
except ValueError:
    raise ImproperlyConfigured("FRAUD_TIMESTAMP_EARLIEST is a date, e.g. 2000-01-01") from None
# Review threshold used when the admin left it empty and no fraud model serves (with a
# model, an empty threshold follows the model's cost-minimising one).
FRAUD_DEFAULT_REVIEW_THRESHOLD = env_float("FRAUD_DEFAULT_REVIEW_THRESHOLD", 0.3)
if not 0 < FRAUD_DEFAULT_REVIEW_THRESHOLD <= 1:
    raise ImproperlyConfigured("FRAUD_DEFAULT_REVIEW_THRESHOLD is between 0 (excluded) and 1")
# Without a champion fraud model /fraude decides on the rules alone (model_version null);
# set this to answer 503 instead.
FRAUD_REQUIRE_MODEL = env_bool("FRAUD_REQUIRE_MODEL", False)
# Business cost used to pick a new fraud model's threshold: a fraud let through costs this
# many times a legitimate payment sent to review.
FRAUD_COST_FALSE_NEGATIVE = env_float("FRAUD_COST_FALSE_NEGATIVE", 20.0)
FRAUD_COST_FALSE_POSITIVE = env_float("FRAUD_COST_FALSE_POSITIVE", 1.0)
# Most stored fraud checks one back-test reads (newest first within the date range).
FRAUD_BACKTEST_MAX_ROWS = env_int("FRAUD_BACKTEST_MAX_ROWS", 200_000, minimum=1)

# --- Monitoring (docs/monitoring.md) ------------------------------------------------------
# /metrics answers only requests carrying "Authorization: Bearer <METRICS_TOKEN>". Without a
# token it is served to loopback callers outside production only (a development
# convenience: behind a local reverse proxy every caller looks local), and closed in production.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
if METRICS_TOKEN and len(METRICS_TOKEN) < 24:
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 24 characters (e.g. openssl rand -hex 24)")
API_CALL_LOG_ENABLED = env_bool("API_CALL_LOG_ENABLED", True)
# Call-log rows are written in batches by a thread, at most this many seconds late (0 = in the request).
API_CALL_LOG_FLUSH_SECONDS = env_float("API_CALL_LOG_FLUSH_SECONDS", 1.0, minimum=0)
API_CALL_LOG_BATCH_SIZE = env_int("API_CALL_LOG_BATCH_SIZE", 200, minimum=1)
PROMETHEUS_EXPORT_MIGRATIONS = False
# The middleware's HTTP metrics are added up per process and written at most this many
# seconds late (monitoring.metrics.MetricWrites; 0 = each update in its request).
METRICS_FLUSH_SECONDS = env_float("METRICS_FLUSH_SECONDS", 1.0, minimum=0)

# --- Privacy: GDPR requests and retention (docs/privacy.md) -------------------------------
# A request is answered within one month of receipt (GDPR Art. 12(3)); the compliance front
# page lists open requests due within GDPR_DUE_SOON_DAYS, and those overdue.
GDPR_RESPONSE_DAYS = env_int("GDPR_RESPONSE_DAYS", 30, minimum=1)
GDPR_DUE_SOON_DAYS = env_int("GDPR_DUE_SOON_DAYS", 7, minimum=0)
# How long records are kept, in days after their date (the nightly retention job deletes
# older ones; an erasure keeps only what is within these periods, pseudonymised).
# Credit decisions and their applications: creditworthiness records, and AI Act logs of
# high-risk credit scoring (at least 6 months).
RETENTION_CREDIT_DECISION_DAYS = env_int("RETENTION_CREDIT_DECISION_DAYS", 5 * 365, minimum=183)
# Transactions, fraud checks and resolved alerts: AML Directive (EU) 2015/849 Art. 40, 5 years.
RETENTION_TRANSACTION_DAYS = env_int("RETENTION_TRANSACTION_DAYS", 5 * 365, minimum=1)
API_CALL_LOG_RETENTION_DAYS = env_int("API_CALL_LOG_RETENTION_DAYS", 180, minimum=1)
# Closed GDPR requests and their certificates (accountability, Art. 5(2)).
RETENTION_GDPR_REQUEST_DAYS = env_int("RETENTION_GDPR_REQUEST_DAYS", 5 * 365, minimum=1)
# A live client that no kept record refers to any more (their decisions, applications,
# transactions and requests have gone) and whose identity was not updated for this long:
# storage limitation, GDPR Art. 5(1)(e). The bank's systems create them again on next use.
RETENTION_CLIENT_IDLE_DAYS = env_int("RETENTION_CLIENT_IDLE_DAYS", 2 * 365, minimum=1)
# Checkpoints of the audit chain's head (audit.checkpoints), appended to a file outside the
# database and signed: verify_audit_chain then sees the newest events removed. Keep the file
# where the database's owner cannot write (another volume or host, append-only storage).
AUDIT_CHECKPOINT_FILE = env_path("AUDIT_CHECKPOINT_FILE", VAR_DIR / "audit-checkpoints.jsonl", base=BASE_DIR)
# The HMAC key of the checkpoints; empty: derived from SECRET_KEY. Production: a key of its own,
# held apart from the database credentials.
AUDIT_CHECKPOINT_KEY = env_str("AUDIT_CHECKPOINT_KEY", "")
# Keys a rotation retired, still accepted when reading the file (as SECRET_KEY_FALLBACKS).
AUDIT_CHECKPOINT_KEY_FALLBACKS = env_list("AUDIT_CHECKPOINT_KEY_FALLBACKS", [])
if PRODUCTION:
    for _audit_key in filter(None, [AUDIT_CHECKPOINT_KEY, *AUDIT_CHECKPOINT_KEY_FALLBACKS]):
        _check_production_secret("AUDIT_CHECKPOINT_KEY", _audit_key)

# Nightly drift report (docs/monitoring.md): the alert fires when at least this share of the
# tested features drifted.
DRIFT_ALERT_SHARE = env_float("DRIFT_ALERT_SHARE", 0.3)
if not 0 < DRIFT_ALERT_SHARE <= 1:
    raise ImproperlyConfigured("DRIFT_ALERT_SHARE is a share of features, above 0 and at most 1")
# Decisions of the day compared with the reference, at most (a uniform random sample).
DRIFT_SAMPLE_SIZE = env_int("DRIFT_SAMPLE_SIZE", 20_000)
# Fewer decisions in a day (or values of a feature) than this: not tested (too noisy).
DRIFT_MIN_ROWS = env_int("DRIFT_MIN_ROWS", 100)
if DRIFT_SAMPLE_SIZE < DRIFT_MIN_ROWS or DRIFT_MIN_ROWS < 1:
    raise ImproperlyConfigured("DRIFT_SAMPLE_SIZE must be at least DRIFT_MIN_ROWS, itself at least 1")
# The HTML report (about 1.2 MB compressed) is kept this many days; the figures forever.
DRIFT_REPORT_HTML_RETENTION_DAYS = env_int("DRIFT_REPORT_HTML_RETENTION_DAYS", 90, minimum=1)
# Optional: POST each alert, HMAC-signed with the secret (creditplatform/webhooks.py).
DRIFT_WEBHOOK_URL = env_str("DRIFT_WEBHOOK_URL", "")
DRIFT_WEBHOOK_SECRET = env_str("DRIFT_WEBHOOK_SECRET", "")
DRIFT_WEBHOOK_TIMEOUT = env_float("DRIFT_WEBHOOK_TIMEOUT", 5.0, minimum=0.1)
# Attempts after the first one (30 s, 1 min, 2 min apart), then the failure is noted on the report.
DRIFT_WEBHOOK_MAX_RETRIES = env_int("DRIFT_WEBHOOK_MAX_RETRIES", 3, minimum=0)
# An owed alert whose next attempt is this late was lost (broker, killed worker): the reconciler
# sends it again. More than the longest wait between two attempts.
DRIFT_WEBHOOK_REQUEUE_AFTER_SECONDS = env_int("DRIFT_WEBHOOK_REQUEUE_AFTER_SECONDS", 900, minimum=1)
if DRIFT_WEBHOOK_URL and len(DRIFT_WEBHOOK_SECRET) < 16:
    raise ImproperlyConfigured("DRIFT_WEBHOOK_URL needs DRIFT_WEBHOOK_SECRET (at least 16 characters) to sign")

# Model governance (docs/governance.md): observed outcomes, performance on matured labels,
# fairness and four-eyes promotion.
# Most outcome rows one import takes (API call, admin upload or import_outcomes).
OUTCOME_IMPORT_MAX_ROWS = env_int("OUTCOME_IMPORT_MAX_ROWS", 50_000, minimum=1)
# A decision's label is mature when it defaulted within this many months, or was observed
# not in default over at least this many.
PERFORMANCE_HORIZON_MONTHS = env_int("PERFORMANCE_HORIZON_MONTHS", 12, minimum=1)
# Fewer matured decisions (or of either class) than this: the report says nothing.
PERFORMANCE_MIN_OUTCOMES = env_int("PERFORMANCE_MIN_OUTCOMES", 100, minimum=2)
# Fairness report (governance.fairness): age bands (lower edges of the bands after the
# first), the approval-rate ratio to the most-approved group below which a group is flagged
# (the four-fifths rule), the largest TPR/FPR gap between groups, and the smallest group judged.
try:
    FAIRNESS_AGE_BANDS = sorted(float(v) for v in env_list("FAIRNESS_AGE_BANDS", ["25", "35", "50", "65"]))
except ValueError as _exc:
    raise ImproperlyConfigured("FAIRNESS_AGE_BANDS is a comma-separated list of ages, e.g. 25,35,50,65") from _exc
if not FAIRNESS_AGE_BANDS:
    raise ImproperlyConfigured("FAIRNESS_AGE_BANDS needs at least one age")
FAIRNESS_MIN_RATIO = env_float("FAIRNESS_MIN_RATIO", 0.8)
if not 0 < FAIRNESS_MIN_RATIO <= 1:
    raise ImproperlyConfigured("FAIRNESS_MIN_RATIO is a ratio above 0 and at most 1")
FAIRNESS_MAX_RATE_GAP = env_float("FAIRNESS_MAX_RATE_GAP", 0.1)
if not 0 <= FAIRNESS_MAX_RATE_GAP <= 1:
    raise ImproperlyConfigured("FAIRNESS_MAX_RATE_GAP is a difference of rates, from 0 to 1")
FAIRNESS_MIN_GROUP_SIZE = env_int("FAIRNESS_MIN_GROUP_SIZE", 30, minimum=1)
# Four eyes: putting a model version in service, activating a fraud rule, changing the refer
# band of a version in service or the fraud thresholds is a request a second admin approves
# (governance.promotion). Off only for a single-person demo.
PROMOTION_FOUR_EYES = env_bool("PROMOTION_FOUR_EYES", True)

# --- Logging --------------------------------------------------------------------------
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
LOG_FORMAT = env_choice("LOG_FORMAT", "json", ("json", "text"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "monitoring.logging.RedactingFilter"},
        "request_id": {"()": "monitoring.logging.RequestIdFilter"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "ts", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "redact"],
        },
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    # Every record leaves through the redacting stdout handler, and only through it: Django's
    # own defaults add a plain-text console handler (with DEBUG on) and runserver's, which
    # would print paths and tracebacks unredacted; they are replaced here.
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        # Django logs every 4xx with the request line; our own handler logs what matters.
        "django.request": {"level": "ERROR"},
        "django.server": {"handlers": [], "level": "WARNING", "propagate": True},
        # SQL with its parameters (personal data) is logged at DEBUG: never, whatever LOG_LEVEL.
        "django.db.backends": {"level": "INFO"},
        # evidently gives this logger a plain console handler of its own at import unless it
        # already has one: through ours instead (the drift report imports evidently).
        "evidently.ui.runner.core": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
    },
}

# --- Demo -----------------------------------------------------------------------------
# `make run` (manage.py create_demo_users): a fixed password for the demo users; empty means
# a fresh random one per run, printed.
DEMO_PASSWORD = env_str("DEMO_PASSWORD", "")

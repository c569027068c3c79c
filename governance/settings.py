"""Warden settings.

Everything that differs between machines comes from the environment and bad values fail loudly
at start-up. With nothing set, Warden runs on the embedded default: SQLite, tasks executed in the
web process and files under ``./data``. ``WARDEN_ENV=production`` switches on the hardened profile,
which refuses to start without a real ``SECRET_KEY``.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def env_int(name: str, default: int) -> int:
    """A whole number from the environment; anything else stops start-up with the variable's name."""
    raw = env.str(name, default=str(default)).strip()
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None


TRUE_WORDS, FALSE_WORDS = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    """A yes/no from the environment; a word that is neither stops start-up rather than meaning no."""
    raw = env.str(name, default="1" if default else "0").strip().lower()
    if raw not in TRUE_WORDS | FALSE_WORDS:
        raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")
    return raw in TRUE_WORDS


WARDEN_ENV = env.str("WARDEN_ENV", default="development")
if WARDEN_ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured(f"WARDEN_ENV must be development, test or production, not {WARDEN_ENV!r}")
PRODUCTION = WARDEN_ENV == "production"

DEBUG = env_bool("WARDEN_DEBUG", default=WARDEN_ENV == "development")
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("WARDEN_DEBUG must not be on in production")

if PRODUCTION:
    # No default: a production secret must come from the environment.
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
        raise ImproperlyConfigured("SECRET_KEY must be set to a random string of at least 50 characters")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="warden-development-key-not-for-production-" + "x" * 20)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must name the hosts Warden is served on")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Where uploads, temporary files and the SQLite database live. Outside the web root: files are only
# ever served through permission-checked views.
DATA_DIR = Path(env.str("WARDEN_DATA_DIR", default=str(BASE_DIR / "data"))).resolve()
UPLOAD_ROOT = Path(env.str("WARDEN_UPLOAD_ROOT", default=str(DATA_DIR / "uploads"))).resolve()
STATIC_ROOT = Path(env.str("WARDEN_STATIC_ROOT", default=str(DATA_DIR / "static"))).resolve()
FILE_UPLOAD_TEMP_DIR_PATH = DATA_DIR / "tmp"
for _directory in (DATA_DIR, UPLOAD_ROOT, FILE_UPLOAD_TEMP_DIR_PATH):
    _directory.mkdir(parents=True, exist_ok=True, mode=0o700)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "guardian",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_htmx",
    "csp",
    "django_filters",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc served from our own static files, no CDN
    "governance",
    "assessments",
    "training",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Cached deployment-gate answers leave here, before the middleware that a token-authenticated GET never uses.
    "assessments.approvals.middleware.CachedGateAnswerMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "governance.middleware.TwoFactorEnforcementMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "governance.middleware.LoginRequiredMiddleware",
    # Axes must be last: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

if PRODUCTION:
    # gunicorn serves the collected static files itself; in development runserver does.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "governance.urls"
WSGI_APPLICATION = "governance.wsgi.application"
ASGI_APPLICATION = "governance.asgi.application"

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
                "governance.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'warden.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env_int("WARDEN_DB_CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Wait for a concurrent writer instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
# The cache gets its own Redis database when one is named: clearing a cache that shares the broker's
# database would also drop queued tasks.
REDIS_CACHE_URL = env.str("REDIS_CACHE_URL", default=REDIS_URL)
if REDIS_CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_CACHE_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Sessions end after an idle hour (each request pushes the expiry on) and with the browser.
SESSION_COOKIE_AGE = env_int("WARDEN_SESSION_IDLE_SECONDS", default=3600)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# Lockout: five failures for one username (from anywhere) or from one address (for any username)
# lock that username or address for 15 minutes.
AXES_FAILURE_LIMIT = env_int("WARDEN_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("WARDEN_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

OTP_TOTP_ISSUER = "Warden"

GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Every stored file (artifacts, datasets, evidence) is encrypted at rest under its own data key,
# wrapped by a key-encryption key from WARDEN_KEK or WARDEN_KEK_FILE (see governance/crypto/).
STORAGES = {
    "default": {
        "BACKEND": "governance.crypto.storage.EncryptedFileSystemStorage",
        "OPTIONS": {"location": str(UPLOAD_ROOT), "base_url": None},
    },
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        ),
    },
}
MEDIA_ROOT = str(UPLOAD_ROOT)
MEDIA_URL = None  # uploads have no public URL

# Uploads: anything bigger than this is refused with a clear message. Bodies spool to disk past
# 2.5 MB so a large artifact never sits in memory whole.
WARDEN_MAX_UPLOAD_BYTES = env_int("WARDEN_MAX_UPLOAD_MB", default=512) * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_TEMP_DIR = str(FILE_UPLOAD_TEMP_DIR_PATH)
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="warden@localhost")
WARDEN_BASE_URL = env.str("WARDEN_BASE_URL", default="http://127.0.0.1:8000")
WARDEN_INVITATION_DAYS = env_int("WARDEN_INVITATION_DAYS", default=7)

# Evidence packs are signed with the organisation's certificate: a PKCS#12 file and its passphrase
# (from a file, preferably). Verifiers trust the CA certificates in WARDEN_SIGNING_TRUST (PEM). In
# development `manage.py ensure_signing_cert` makes a demo CA and certificate in data/signing/.
_SIGNING_DIR = DATA_DIR / "signing"
WARDEN_SIGNING_P12 = env.str("WARDEN_SIGNING_P12", default="" if PRODUCTION else str(_SIGNING_DIR / "signer.p12"))
WARDEN_SIGNING_PASSPHRASE = env.str("WARDEN_SIGNING_PASSPHRASE", default="")
WARDEN_SIGNING_PASSPHRASE_FILE = env.str(
    "WARDEN_SIGNING_PASSPHRASE_FILE", default="" if PRODUCTION else str(_SIGNING_DIR / "passphrase"))
WARDEN_SIGNING_TRUST = env.str("WARDEN_SIGNING_TRUST", default="" if PRODUCTION else str(_SIGNING_DIR / "ca.pem"))
WARDEN_TSA_URL = env.str("WARDEN_TSA_URL", default="")  # RFC 3161 timestamp server; none when empty
WARDEN_PACK_MAX_UPLOAD_BYTES = env_int("WARDEN_PACK_MAX_UPLOAD_MB", default=50) * 1024 * 1024
# The organisation's own pass/warn/fail bounds for fairness and robustness runs (JSON or YAML; see
# assessments/evaluations/threshold_policy.py). Empty: the defaults per risk tier.
WARDEN_EVALUATION_THRESHOLDS_FILE = env.str("WARDEN_EVALUATION_THRESHOLDS_FILE", default="")
# A ceiling on the memory of each evaluation worker process (MiB; 0 = none): a model or data set that
# needs more fails its run with a readable reason instead of taking the machine down.
WARDEN_EVALUATION_MEMORY_MB = env_int("WARDEN_EVALUATION_MEMORY_MB", default=0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        # Session use of the API honours the two-factor rule, like the pages.
        "governance.api.authentication.VerifiedSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "governance.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Warden API",
    "DESCRIPTION": "Inventory of ML models and datasets for CI pipelines. Authenticate with the header "
    "`Authorization: Token YOUR_KEY`; create a key on your API tokens page.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

# Celery. With no broker configured, tasks run in-process (the embedded default); with REDIS_URL
# they go to separate worker processes. Settings are read by governance/celery.py (CELERY_ prefix).
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True  # results are written to the database by the task itself
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("WARDEN_TASK_SOFT_TIME_LIMIT", default=540)
CELERY_TASK_TIME_LIMIT = env_int("WARDEN_TASK_TIME_LIMIT", default=600)
CELERY_TASK_DEFAULT_QUEUE = "default"
# Which queue a task goes to follows from its name, so that each kind of worker can be scaled alone.
CELERY_TASK_ROUTES = {
    "*.tasks.profile_*": {"queue": "scans"},
    "*.tasks.scan_*": {"queue": "scans"},
    "*.tasks.evaluate_*": {"queue": "evaluations"},
    "*.tasks.render_*": {"queue": "pdf"},
    # De-identified copies read and write whole datasets: the scans workers run under memory limits.
    "governance.deidentify.tasks.*": {"queue": "scans"},
}
CELERY_TASK_QUEUES_NAMES = ("default", "scans", "evaluations", "pdf")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TIMEZONE = TIME_ZONE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("WARDEN_LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}, "weasyprint": {"level": "WARNING"}, "fontTools": {"level": "WARNING"}},
}

# Content Security Policy: no inline scripts or styles anywhere, nothing from other origins.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

if PRODUCTION:
    # Refuse to start without a key-encryption key (development generates one under DATA_DIR).
    from governance.crypto.keys import load_keyring

    load_keyring(production=True, data_dir=DATA_DIR)

# Deployment gate answers are signed (JWS) with the organisation's key: a PEM file, Ed25519 or EC P-256
# (see assessments/approvals/signing.py). Development generates one under DATA_DIR; production needs it.
WARDEN_GATE_KEY_FILE = env.str("WARDEN_GATE_KEY_FILE", default="")
# After a rotation: a PEM bundle of the earlier keys, still published so that kept answers verify.
WARDEN_GATE_RETIRED_KEYS_FILE = env.str("WARDEN_GATE_RETIRED_KEYS_FILE", default="")
# Seconds a gate decision may be reused for the same token and artifact while nothing it depends on changed
# (assessments/approvals/gate_cache.py). Unset: 60, and only where the cache is shared (Redis); 0 turns it off.
WARDEN_GATE_CACHE_SECONDS: int | None = (env_int("WARDEN_GATE_CACHE_SECONDS", default=60)
                                         if env.str("WARDEN_GATE_CACHE_SECONDS", default="") else None)
# Approval rules and monitoring thresholds per risk tier: assessments/approvals/policy.py, overridden per tier by
# JSON, e.g. WARDEN_APPROVAL_POLICY='{"limited": {"robustness": "pass"}}' (checked at start-up).
try:
    WARDEN_APPROVAL_POLICY: dict = env.json("WARDEN_APPROVAL_POLICY", default={})
except ValueError as _error:
    raise ImproperlyConfigured(f"WARDEN_APPROVAL_POLICY must be a JSON object keyed by risk tier ({_error})") from None
# Monitoring alerts also go to this URL, the JSON body signed with HMAC-SHA256 under the secret.
WARDEN_ALERT_WEBHOOK_URL = env.str("WARDEN_ALERT_WEBHOOK_URL", default="")
WARDEN_ALERT_WEBHOOK_SECRET = env.str("WARDEN_ALERT_WEBHOOK_SECRET", default="")
if WARDEN_ALERT_WEBHOOK_URL and len(WARDEN_ALERT_WEBHOOK_SECRET) < 32:
    raise ImproperlyConfigured("WARDEN_ALERT_WEBHOOK_SECRET must be at least 32 characters when "
                               "WARDEN_ALERT_WEBHOOK_URL is set (the receiver checks the signature with it)")
if PRODUCTION:
    from assessments.approvals.signing import load_signing_key

    load_signing_key(key_file=WARDEN_GATE_KEY_FILE, production=True, data_dir=DATA_DIR)

# The hardened profile. `manage.py check --deploy` passes with no warnings under it.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("WARDEN_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env_int("WARDEN_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    if env_bool("WARDEN_BEHIND_TLS_PROXY", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

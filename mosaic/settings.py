"""Mosaic's settings, read from the environment (twelve-factor).

Every knob is an environment variable with its default beside it; docs/operations.md lists them.
With nothing set, Mosaic runs locally on its embedded PostgreSQL and Redis in the state
directory, with secrets generated once by ``mosaic init`` into ``<state>/mosaic.env``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from core import env
from mosaic.services import default_state_dir, embedded_database_url, embedded_redis_url

# Lets admin.ModelAdmin[Model] and friends be subscripted at run time, as the type hints are.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

# --- where local state lives ---------------------------------------------------------------------
STATE_DIR = default_state_dir()  # MOSAIC_STATE_DIR, default ~/.local/state/mosaic
env.load_env_file(STATE_DIR / "mosaic.env")

DEBUG = env.env_bool("DEBUG", False)
SECRET_KEY = env.env_required(
    "SECRET_KEY", "set it in the environment, or run `mosaic init` to generate local secrets."
)
SECRET_KEY_FALLBACKS = env.env_list("SECRET_KEY_FALLBACKS")
if not DEBUG and len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters long when DEBUG is off.")

ALLOWED_HOSTS = env.env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.env_list("CSRF_TRUSTED_ORIGINS")

# Fernet keys for credentials at rest: comma-separated; the first encrypts, all decrypt.
MOSAIC_ENCRYPTION_KEYS = env.env_list("MOSAIC_ENCRYPTION_KEYS")
if not MOSAIC_ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "MOSAIC_ENCRYPTION_KEYS is not set: give one or more Fernet keys (comma-separated), "
        "or run `mosaic init` to generate a local one."
    )

# --- applications ------------------------------------------------------------------------------
INSTALLED_APPS = [
    "mosaic.apps.MosaicConfig",
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "django_celery_beat",
    "django_celery_results",
    "accounts",
    "providers",
    "conversations",
    "routing",
    "memory",
    "agents",
    "jobs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: keeps the whole chain above in one worker thread (see mosaic/middleware.py).
    "mosaic.middleware.SyncChainMiddleware",
]

ROOT_URLCONF = "mosaic.urls"
ASGI_APPLICATION = "mosaic.asgi.application"

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
            ],
        },
    },
]

# --- database: PostgreSQL + pgvector, never SQLite ---------------------------------------------
DATABASE_URL = env.env_url(
    "DATABASE_URL",
    embedded_database_url(STATE_DIR),
    schemes=("postgres", "postgresql", "pgsql"),
)
EMBEDDED_POSTGRES = "DATABASE_URL" not in os.environ and not env.env_str("DATABASE_URL_FILE")


# A pool of open connections per process. Django runs each HTTP request's code in a thread of
# its own (asgiref's ThreadSensitiveContext) and a connection belongs to its thread, so without
# a pool every request opened a new PostgreSQL connection, however long CONN_MAX_AGE was
# (docs/performance.md, "The HTTP floor"). The chat path's database thread draws from it too.
DATABASE_POOL = env.env_bool("DATABASE_POOL", True)
DATABASE_POOL_MAX_SIZE = env.env_int("DATABASE_POOL_MAX_SIZE", 20, minimum=1)
# Without the pool (DATABASE_POOL=false, e.g. behind PgBouncer): keep connections open this long.
DATABASE_CONN_MAX_AGE = env.env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)


def _database_config(url: str) -> dict[str, Any]:
    config: dict[str, Any] = dict(
        dj_database_url.parse(
            url,
            conn_max_age=0 if DATABASE_POOL else DATABASE_CONN_MAX_AGE,
            conn_health_checks=False,
        )
    )
    # A unix-socket URL carries the socket directory as ?host=…; Django wants it in HOST.
    options = config.setdefault("OPTIONS", {})
    if not config.get("HOST") and "host" in options:
        config["HOST"] = options.pop("host")
    if DATABASE_POOL:
        # A request waits at most `timeout` seconds for a free connection, then fails.
        options["pool"] = {"min_size": 1, "max_size": DATABASE_POOL_MAX_SIZE, "timeout": 30}
    return config


DATABASES = {"default": _database_config(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, Celery broker, cache ------------------------------------------------
REDIS_URL = env.env_url(
    "REDIS_URL", embedded_redis_url(STATE_DIR), schemes=("redis", "rediss", "unix")
)
EMBEDDED_REDIS = "REDIS_URL" not in os.environ


def _celery_broker_url(url: str) -> str:
    # kombu spells unix sockets redis+socket:// and the database as ?virtual_host=N.
    if url.startswith("unix://"):
        path, _, query = url.removeprefix("unix://").partition("?")
        db = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("db", "0")
        return f"redis+socket://{path}?virtual_host={db}"
    return url


CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "mosaic:ws"},
    }
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "mosaic",
    }
}

CELERY_BROKER_URL = _celery_broker_url(REDIS_URL)
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}

# --- auth and API ------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
MOSAIC_TOKEN_TTL_DAYS = env.env_int("MOSAIC_TOKEN_TTL_DAYS", 90, minimum=1)
# How long a process trusts an API token it has checked; also how long a revoked token or a
# deactivated user may still get through in another process (accounts/selectors.py).
MOSAIC_TOKEN_CACHE_SECONDS = env.env_float(
    "MOSAIC_TOKEN_CACHE_SECONDS", 1.0, minimum=0.0, maximum=5.0
)

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.http_errors.handle_exception",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.ScopedRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"auth": env.env_str("MOSAIC_AUTH_RATE", "20/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Mosaic API",
    "DESCRIPTION": "Self-hosted, multi-user AI harness.",
    "VERSION": "0.2.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- providers ---------------------------------------------------------------------------------
_HTTP = ("http", "https")
ANTHROPIC_API_KEY = env.env_str("ANTHROPIC_API_KEY")
ANTHROPIC_BASE_URL = env.env_url("ANTHROPIC_BASE_URL", "https://api.anthropic.com", schemes=_HTTP)
OPENAI_API_KEY = env.env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env.env_url("OPENAI_BASE_URL", "https://api.openai.com/v1", schemes=_HTTP)
OPENROUTER_API_KEY = env.env_str("OPENROUTER_API_KEY")
OPENROUTER_BASE_URL = env.env_url(
    "OPENROUTER_BASE_URL", "https://openrouter.ai/api/v1", schemes=_HTTP
)
ZAI_API_KEY = env.env_str("ZAI_API_KEY")
ZAI_BASE_URL = env.env_url("ZAI_BASE_URL", "https://api.z.ai/api/paas/v4", schemes=_HTTP)
OLLAMA_BASE_URL = env.env_url("OLLAMA_BASE_URL", "http://localhost:11434", schemes=_HTTP)
OLLAMA_API_KEY = env.env_str("OLLAMA_API_KEY")

MOSAIC_PROVIDER_HEALTH_INTERVAL = env.env_int("MOSAIC_PROVIDER_HEALTH_INTERVAL", 60, minimum=5)
MOSAIC_PROVIDER_TIMEOUT = env.env_float("MOSAIC_PROVIDER_TIMEOUT", 120.0, minimum=0.1)
MOSAIC_DEFAULT_MODEL = env.env_str("MOSAIC_DEFAULT_MODEL", "anthropic:claude-sonnet-4-6")
MOSAIC_EMBEDDING_PROVIDER = env.env_str("MOSAIC_EMBEDDING_PROVIDER", "ollama")
MOSAIC_EMBEDDING_MODEL = env.env_str("MOSAIC_EMBEDDING_MODEL", "nomic-embed-text")
MOSAIC_EMBEDDING_DIMS = env.env_int("MOSAIC_EMBEDDING_DIMS", 768, minimum=1)

# --- chat --------------------------------------------------------------------------------------
MOSAIC_MAX_MESSAGE_BYTES = env.env_int("MOSAIC_MAX_MESSAGE_BYTES", 256 * 1024, minimum=1024)
MOSAIC_CONTEXT_THRESHOLD = env.env_float("MOSAIC_CONTEXT_THRESHOLD", 0.8, minimum=0.1, maximum=1.0)
MOSAIC_AGENT_MAX_TURNS = env.env_int("MOSAIC_AGENT_MAX_TURNS", 8, minimum=1)
# How long a process trusts its cached routing rules, health and credentials before checking
# Redis for changes (rule edits reach every process within this time).
MOSAIC_ROUTING_REFRESH_SECONDS = env.env_float("MOSAIC_ROUTING_REFRESH_SECONDS", 1.0, minimum=0.0)
# Search ranks the newest this-many matches of a query at a time (conversations/search.py).
MOSAIC_SEARCH_WINDOW = env.env_int("MOSAIC_SEARCH_WINDOW", 200, minimum=50)

# --- HTTP security (production values make `check --deploy` clean) ------------------------------
SECURE_SSL_REDIRECT = env.env_bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env.env_bool("SESSION_COOKIE_SECURE", SECURE_SSL_REDIRECT)
CSRF_COOKIE_SECURE = env.env_bool("CSRF_COOKIE_SECURE", SECURE_SSL_REDIRECT)
SECURE_HSTS_SECONDS = env.env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env.env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.env_bool("MOSAIC_BEHIND_PROXY", False) else None
)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- i18n, static ------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = Path(env.env_str("STATIC_ROOT", str(STATE_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}


LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
    },
}

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
# MOSAIC_STATE_DIR; default var/ in a source checkout (as `make run` uses), else
# ~/.local/state/mosaic.
STATE_DIR = default_state_dir()
env.load_env_file(STATE_DIR / "mosaic.env")
# Where a missing secret sends the user: to the state the server uses, not to a new empty one.
_NO_LOCAL_SECRETS = (
    f"there is no {STATE_DIR / 'mosaic.env'}. If Mosaic runs elsewhere, set MOSAIC_STATE_DIR to "
    "the state directory it uses (`make run` prints it); for a new installation, `make run` or "
    "`mosaic init` creates that file; or set the variable in the environment."
)

DEBUG = env.env_bool("DEBUG", False)
SECRET_KEY = env.env_required("SECRET_KEY", _NO_LOCAL_SECRETS)
SECRET_KEY_FALLBACKS = env.env_list("SECRET_KEY_FALLBACKS")
if not DEBUG and len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters long when DEBUG is off.")

ALLOWED_HOSTS = env.env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.env_list("CSRF_TRUSTED_ORIGINS")

# Fernet keys for credentials at rest: comma-separated; the first encrypts, all decrypt.
MOSAIC_ENCRYPTION_KEYS = env.env_list("MOSAIC_ENCRYPTION_KEYS")
if not MOSAIC_ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "MOSAIC_ENCRYPTION_KEYS is not set (one or more Fernet keys, comma-separated): "
        + _NO_LOCAL_SECRETS
    )

# --- applications ------------------------------------------------------------------------------
INSTALLED_APPS = [
    "mosaic.apps.MosaicConfig",
    "mosaic.web.apps.WebConfig",
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
    "drf_spectacular_sidecar",
    "django_celery_beat",
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
    "core.middleware.RefuseNulCharactersMiddleware",
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
# (docs/performance.md, "The HTTP floor"). The database threads of the socket and the chat turn
# (core.db.in_database_thread, MOSAIC_DATABASE_THREADS) draw from it too.
DATABASE_POOL = env.env_bool("DATABASE_POOL", True)
DATABASE_POOL_MAX_SIZE = env.env_int("DATABASE_POOL_MAX_SIZE", 20, minimum=1)
# How long a query waits for a connection (a free one, or a new one while PostgreSQL is away)
# before it fails: short, so that a database outage surfaces as an error the chat turn can retry
# and report (MOSAIC_SAVE_RETRY_SECONDS) instead of a 30 s hang.
DATABASE_POOL_TIMEOUT = env.env_float("DATABASE_POOL_TIMEOUT", 5.0, minimum=0.5)
# Without the pool (DATABASE_POOL=false, e.g. behind PgBouncer): keep connections open this long.
DATABASE_CONN_MAX_AGE = env.env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
# The threads that run the socket's and the chat turn's database calls (core.db.in_database_thread),
# each keeping one connection (so at most this many of the pool's, after DATABASE_POOL_MAX_SIZE).
MOSAIC_DATABASE_THREADS = env.env_int("MOSAIC_DATABASE_THREADS", 4, minimum=1)


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
        options["pool"] = {
            "min_size": 1,
            "max_size": DATABASE_POOL_MAX_SIZE,
            "timeout": DATABASE_POOL_TIMEOUT,
        }
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
CACHES: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "mosaic",
        # One pool per process, not one per thread and async context (core/cache.py).
        "OPTIONS": {"pool_class": "core.cache.SharedConnectionPool"},
    }
}

# --- background jobs (docs/jobs.md) -------------------------------------------------------------
# Hard limit of one job run, unless the job declares its own.
MOSAIC_JOB_TIME_LIMIT = env.env_int("MOSAIC_JOB_TIME_LIMIT", 600, minimum=1)
# How long Redis waits for a delivered job to be acknowledged before handing it to another
# worker: longer than any job plus its retry countdown (system check jobs.E001), and also how
# long the jobs of a worker that died wait before another worker runs them.
MOSAIC_JOBS_VISIBILITY_TIMEOUT = env.env_int("MOSAIC_JOBS_VISIBILITY_TIMEOUT", 3600, minimum=1)
MOSAIC_LOG_HOT_DAYS = env.env_int("MOSAIC_LOG_HOT_DAYS", 7, minimum=1)
MOSAIC_LOG_RETENTION_DAYS = env.env_int("MOSAIC_LOG_RETENTION_DAYS", 90, minimum=1)
if MOSAIC_LOG_RETENTION_DAYS <= MOSAIC_LOG_HOT_DAYS:
    raise ImproperlyConfigured(
        "MOSAIC_LOG_RETENTION_DAYS must be longer than MOSAIC_LOG_HOT_DAYS "
        f"({MOSAIC_LOG_RETENTION_DAYS} <= {MOSAIC_LOG_HOT_DAYS})."
    )
MOSAIC_JOB_RUN_RETENTION_DAYS = env.env_int("MOSAIC_JOB_RUN_RETENTION_DAYS", 30, minimum=1)
# A session whose conversation no live socket holds is ended once idle this long.
MOSAIC_SESSION_GC_GRACE_SECONDS = env.env_int("MOSAIC_SESSION_GC_GRACE_SECONDS", 300, minimum=0)

CELERY_BROKER_URL = _celery_broker_url(REDIS_URL)
# No result backend: every attempt of every job is a JobRun row (state, timings, error, a short
# copy of the result), which the admin and /api/admin/jobs show. The worker banner says
# "results: disabled://".
CELERY_RESULT_BACKEND = "disabled"
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_EXPIRES = None
CELERY_BEAT_SCHEDULER = "jobs.scheduler:MosaicScheduler"
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES: dict[str, dict[str, Any]] = {"default": {}, "housekeeping": {}}
CELERY_TASK_ROUTES = ("core.jobs.route_to_declared_queue",)
CELERY_TASK_TIME_LIMIT = MOSAIC_JOB_TIME_LIMIT
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": MOSAIC_JOBS_VISIBILITY_TIMEOUT}

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

# The web page's sign-in (mosaic/web): Django's session login, with failed attempts limited per
# account and per client address in windows of MOSAIC_LOGIN_WINDOW_SECONDS (accounts/login_limit.py).
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"
MOSAIC_LOGIN_FAILURES_PER_ACCOUNT = env.env_int("MOSAIC_LOGIN_FAILURES_PER_ACCOUNT", 10, minimum=1)
MOSAIC_LOGIN_FAILURES_PER_ADDRESS = env.env_int("MOSAIC_LOGIN_FAILURES_PER_ADDRESS", 50, minimum=1)
MOSAIC_LOGIN_WINDOW_SECONDS = env.env_int("MOSAIC_LOGIN_WINDOW_SECONDS", 900, minimum=10)

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.http_errors.handle_exception",
    # DRF's JSON parser, refusing NUL characters and deep nesting with a 400 (core/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.CheckedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.ScopedRateThrottle"],
    # Throttles key on REMOTE_ADDR, never on X-Forwarded-For (which any client can send): behind
    # a proxy (MOSAIC_BEHIND_PROXY), daphne itself sets REMOTE_ADDR from the proxy's header.
    "NUM_PROXIES": 0,
    "DEFAULT_THROTTLE_RATES": {"auth": env.env_str("MOSAIC_AUTH_RATE", "20/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Mosaic API",
    "DESCRIPTION": "Self-hosted, multi-user AI harness.",
    "VERSION": "0.2.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Other fields are also called "source": give the memory one its own enum name.
    "ENUM_NAME_OVERRIDES": {"MemorySourceEnum": "memory.models.Source"},
    # /api/docs/ loads Swagger UI from the installed drf-spectacular-sidecar (pinned in
    # pyproject.toml), through our static files: no CDN, so it works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
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
OLLAMA_DEFAULT_BASE_URL = "http://localhost:11434"
OLLAMA_BASE_URL = env.env_url("OLLAMA_BASE_URL", OLLAMA_DEFAULT_BASE_URL, schemes=_HTTP)
# Set explicitly: Ollama is then tried before it has ever answered a probe (otherwise an Ollama
# at the default URL counts only once a probe found it).
OLLAMA_CONFIGURED = bool(env.env_str("OLLAMA_BASE_URL"))
OLLAMA_API_KEY = env.env_str("OLLAMA_API_KEY")

# Hosts (``host`` or ``host:port``; ``*`` for any) that users' own credentials may name as their
# base URL although they resolve to private or loopback addresses (providers/outbound.py).
# Empty: users' base URLs must resolve to public addresses only.
MOSAIC_USER_BASE_URL_HOSTS = env.env_list("MOSAIC_USER_BASE_URL_HOSTS", [])
MOSAIC_PROVIDER_HEALTH_INTERVAL = env.env_int("MOSAIC_PROVIDER_HEALTH_INTERVAL", 60, minimum=5)
MOSAIC_PROVIDER_TIMEOUT = env.env_float("MOSAIC_PROVIDER_TIMEOUT", 120.0, minimum=0.1)
MOSAIC_DEFAULT_MODEL = env.env_str("MOSAIC_DEFAULT_MODEL", "anthropic:claude-sonnet-4-6")
# Embeddings (docs/memory.md): "local" is the bundled all-MiniLM-L6-v2 (384 dims, no server);
# an empty model means the provider's default, and 0 dims the model's known size.
MOSAIC_EMBEDDING_PROVIDER = env.env_str("MOSAIC_EMBEDDING_PROVIDER", "local")
MOSAIC_EMBEDDING_MODEL = env.env_str("MOSAIC_EMBEDDING_MODEL", "")
MOSAIC_EMBEDDING_DIMS = env.env_int("MOSAIC_EMBEDDING_DIMS", 0, minimum=0)
MOSAIC_EMBEDDING_THREADS = env.env_int("MOSAIC_EMBEDDING_THREADS", 1, minimum=1)

# --- memory (docs/memory.md) ------------------------------------------------------------------
# Saving an insight this similar (cosine) to one the user already has updates that one instead.
MOSAIC_MEMORY_DEDUP_THRESHOLD = env.env_float(
    "MOSAIC_MEMORY_DEDUP_THRESHOLD", 0.9, minimum=0.0, maximum=1.0
)
# Search reads every row of a user with at most this many insights (exact), else walks the
# HNSW index (then pgvector's iterative scan, bounded by MAX_SCAN_TUPLES candidates).
MOSAIC_MEMORY_EXACT_SCAN_ROWS = env.env_int("MOSAIC_MEMORY_EXACT_SCAN_ROWS", 10_000, minimum=0)
MOSAIC_MEMORY_HNSW_MAX_SCAN_TUPLES = env.env_int(
    "MOSAIC_MEMORY_HNSW_MAX_SCAN_TUPLES", 20000, minimum=100
)
# Candidates the HNSW walk keeps (hnsw.ef_search; at least 2k): more is better recall for a
# user with a large share of the table, at the cost of a longer walk (docs/performance.md).
MOSAIC_MEMORY_HNSW_EF_SEARCH = env.env_int("MOSAIC_MEMORY_HNSW_EF_SEARCH", 400, minimum=10)
# Decay: an unused insight's importance halves every HALF_LIFE_DAYS; below ARCHIVE_BELOW it is
# archived (still listed and searchable, no longer offered to the model).
MOSAIC_MEMORY_HALF_LIFE_DAYS = env.env_float("MOSAIC_MEMORY_HALF_LIFE_DAYS", 30.0, minimum=0.1)
MOSAIC_MEMORY_ARCHIVE_BELOW = env.env_float(
    "MOSAIC_MEMORY_ARCHIVE_BELOW", 0.1, minimum=0.0, maximum=1.0
)
MOSAIC_MEMORY_DECAY_INTERVAL = env.env_int("MOSAIC_MEMORY_DECAY_INTERVAL", 86400, minimum=60)
# Recall: each turn offers the model at most RECALL_K of the user's hot insights that score at
# least RECALL_MIN_SCORE (cosine) against the message; an embedder slower than RECALL_TIMEOUT
# seconds is skipped for that turn (docs/memory.md, "Memories in the chat").
MOSAIC_MEMORY_RECALL_K = env.env_int("MOSAIC_MEMORY_RECALL_K", 5, minimum=1)
if MOSAIC_MEMORY_RECALL_K > 100:
    raise ImproperlyConfigured("MOSAIC_MEMORY_RECALL_K must be at most 100 (a search's k).")
MOSAIC_MEMORY_RECALL_MIN_SCORE = env.env_float(
    "MOSAIC_MEMORY_RECALL_MIN_SCORE", 0.2, minimum=-1.0, maximum=1.0
)
MOSAIC_MEMORY_RECALL_TIMEOUT = env.env_float("MOSAIC_MEMORY_RECALL_TIMEOUT", 2.0, minimum=0.01)
# Extraction reads a conversation once it has been idle this long (seconds).
MOSAIC_MEMORY_EXTRACT_IDLE_SECONDS = env.env_int(
    "MOSAIC_MEMORY_EXTRACT_IDLE_SECONDS", 300, minimum=0
)

# --- chat --------------------------------------------------------------------------------------
MOSAIC_MAX_MESSAGE_BYTES = env.env_int("MOSAIC_MAX_MESSAGE_BYTES", 256 * 1024, minimum=1024)
# The hard limit of one WebSocket message (daphne via mosaic.serve): up to it, a frame over
# MOSAIC_MAX_MESSAGE_BYTES gets a `too_large` error and the socket stays open; beyond it the
# socket is closed with code 1009.
MOSAIC_WEBSOCKET_MAX_BYTES = env.env_int(
    "MOSAIC_WEBSOCKET_MAX_BYTES", max(1024 * 1024, 2 * MOSAIC_MAX_MESSAGE_BYTES), minimum=1024
)
if MOSAIC_WEBSOCKET_MAX_BYTES < MOSAIC_MAX_MESSAGE_BYTES + 4096:
    raise ImproperlyConfigured(
        "MOSAIC_WEBSOCKET_MAX_BYTES must be at least MOSAIC_MAX_MESSAGE_BYTES + 4096 (a message "
        "and the frame around it)."
    )
# Per-user limits on chat turns (agents/limits.py); staff override them per user, or for
# everyone, in the admin (Accounts, Usage limits). 0 means no limit.
MOSAIC_TURNS_PER_MINUTE = env.env_int("MOSAIC_TURNS_PER_MINUTE", 20, minimum=0)
MOSAIC_CONCURRENT_TURNS = env.env_int("MOSAIC_CONCURRENT_TURNS", 3, minimum=0)
MOSAIC_TOKENS_PER_DAY = env.env_int("MOSAIC_TOKENS_PER_DAY", 0, minimum=0)
# A process keeps the history it read of the conversations it served lately and reads only what
# came since (conversations/history.py): at most this many conversations, in about this much memory.
MOSAIC_HISTORY_KEPT_CONVERSATIONS = env.env_int("MOSAIC_HISTORY_KEPT_CONVERSATIONS", 256, minimum=0)
MOSAIC_HISTORY_KEPT_BYTES = env.env_int("MOSAIC_HISTORY_KEPT_BYTES", 32 * 2**20, minimum=0)
MOSAIC_CONTEXT_THRESHOLD = env.env_float("MOSAIC_CONTEXT_THRESHOLD", 0.8, minimum=0.1, maximum=1.0)
# After a turn that brings the context to this share of the window, a job writes the checkpoint
# in the background (docs/jobs.md); at MOSAIC_CONTEXT_THRESHOLD or above it is never due first.
MOSAIC_CHECKPOINT_AHEAD_THRESHOLD = env.env_float(
    "MOSAIC_CHECKPOINT_AHEAD_THRESHOLD", 0.7, minimum=0.1, maximum=1.0
)
MOSAIC_AGENT_MAX_TURNS = env.env_int("MOSAIC_AGENT_MAX_TURNS", 8, minimum=1)

# --- turn deadlines and losing nothing (docs/websocket-protocol.md, "Faults") ---------------------
# A model call must produce its first token within MOSAIC_FIRST_TOKEN_TIMEOUT seconds (else the
# next candidate answers), then never go MOSAIC_STREAM_IDLE_TIMEOUT seconds without an event; a
# whole turn (every model call and tool) ends after MOSAIC_TURN_TIMEOUT seconds.
MOSAIC_FIRST_TOKEN_TIMEOUT = env.env_float("MOSAIC_FIRST_TOKEN_TIMEOUT", 45.0, minimum=0.1)
MOSAIC_STREAM_IDLE_TIMEOUT = env.env_float("MOSAIC_STREAM_IDLE_TIMEOUT", 60.0, minimum=0.1)
MOSAIC_TURN_TIMEOUT = env.env_float("MOSAIC_TURN_TIMEOUT", 600.0, minimum=1.0)
# A conversation's turn lock lapses this many seconds after its process stopped renewing it (a
# process killed mid-turn blocks the conversation for at most this long).
MOSAIC_TURN_LOCK_SECONDS = env.env_float("MOSAIC_TURN_LOCK_SECONDS", 6.0, minimum=0.5)
# A long reply is saved while it streams, every this many seconds, at most this many times.
MOSAIC_STREAM_SAVE_SECONDS = env.env_float("MOSAIC_STREAM_SAVE_SECONDS", 3.0, minimum=0.1)
MOSAIC_STREAM_SAVE_MAX_WRITES = env.env_int("MOSAIC_STREAM_SAVE_MAX_WRITES", 40, minimum=0)
# How long a turn keeps retrying the write of a finished reply while the database is down
# before it ends as failed (the reply then waits in Redis until the database is back).
MOSAIC_SAVE_RETRY_SECONDS = env.env_float("MOSAIC_SAVE_RETRY_SECONDS", 20.0, minimum=0.0)
# After this many chat failures of a provider in a row (timeouts, outages, overload), routing
# treats it as down for MOSAIC_CHAT_FAILURE_COOLDOWN seconds (0: never).
MOSAIC_CHAT_FAILURES_DOWN = env.env_int("MOSAIC_CHAT_FAILURES_DOWN", 3, minimum=0)
MOSAIC_CHAT_FAILURE_COOLDOWN = env.env_float("MOSAIC_CHAT_FAILURE_COOLDOWN", 60.0, minimum=1.0)
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
# Behind a reverse proxy: trust its X-Forwarded-Proto, and (`mosaic run` starts daphne with
# --proxy-headers) take the client's address from its X-Forwarded-For. Off by default: without a
# proxy that sets these headers, any client could claim any address and walk past the login
# limits. The proxy must overwrite X-Forwarded-For, not append to it (docs/operations.md).
MOSAIC_BEHIND_PROXY = env.env_bool("MOSAIC_BEHIND_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if MOSAIC_BEHIND_PROXY else None
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
        # MOSAIC_LOG_TIMING=1: each chat turn's steps, in ms from the frame's arrival (DEBUG)
        "mosaic.gateway.timing": {
            "level": "DEBUG" if env.env_bool("MOSAIC_LOG_TIMING", False) else "NOTSET"
        },
    },
}

"""All of Tally's settings, read once from the environment or `.env` (twelve-factor).

Every variable read here is listed in `.env.example` and in the README's settings table.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def positive_int(name: str, default: int) -> int:
    """An integer setting that must be at least 1; fails loudly on anything else."""
    value = env.int(name, default=default)
    if value < 1:
        raise ImproperlyConfigured(f"{name} must be a positive integer, got {value}.")
    return value


def non_negative_int(name: str, default: int) -> int:
    value = env.int(name, default=default)
    if value < 0:
        raise ImproperlyConfigured(f"{name} must be zero or more, got {value}.")
    return value


def rate(name: str, value: str) -> tuple[float, float]:
    """`prompt:completion`, tokens of credit per 1,000 model tokens of each."""
    prompt, _, completion = value.partition(":")
    try:
        pair = (float(prompt), float(completion))
    except ValueError:
        pair = (-1.0, -1.0)
    if min(pair) < 0:
        raise ImproperlyConfigured(f"{name}: {value!r} is not prompt:completion (e.g. 2.5:10).")
    return pair


def rates(name: str) -> dict[str, tuple[float, float]]:
    """`provider/model=prompt:completion` pairs, comma-separated."""
    found: dict[str, tuple[float, float]] = {}
    for pair in filter(None, (p.strip() for p in env.str(name, default="").split(","))):
        model, _, value = pair.partition("=")
        if "/" not in model:
            raise ImproperlyConfigured(f"{name}: {pair!r} is not provider/model=prompt:completion.")
        found[model.strip()] = rate(name, value.strip())
    return found


def prices(name: str) -> dict[str, int]:
    """`provider/model=tokens` pairs, comma-separated, each a price of zero or more."""
    found: dict[str, int] = {}
    for pair in filter(None, (p.strip() for p in env.str(name, default="").split(","))):
        model, _, price = pair.partition("=")
        model = model.strip()
        if "/" not in model or not price.strip().isdigit():
            raise ImproperlyConfigured(
                f"{name}: {pair!r} is not provider/model=tokens (e.g. openai/gpt-4o=300)."
            )
        found[model] = int(price)
    return found


# --- Core -------------------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=False)
# "production" turns on everything `manage.py check --deploy` asks for and refuses to start
# without a real SECRET_KEY; "development" (the default) keeps `make run` working with no setup.
TALLY_ENV = env.str("TALLY_ENV", default="development")
if TALLY_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"TALLY_ENV must be development or production, not {TALLY_ENV!r}.")
PRODUCTION = TALLY_ENV == "production"
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when TALLY_ENV=production.")
    SECRET_KEY = "insecure-development-key-set-SECRET_KEY-in-production"  # noqa: S105
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "axes",
    "drf_spectacular",
    "django_tasks",
    "drf_spectacular_sidecar",
    "core",
    "providers",
    "billing",
    "accounts",
    "orders",
    "retrieval",
    "chat",
    "compat",
    "privacy",
    "web",
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
    "axes.middleware.AxesMiddleware",  # turns an admin login lockout into its 429 page
    "core.middleware.SyncChain",  # last: see its module
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)

# --- Database and cache -----------------------------------------------------------------------

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'tally.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at BEGIN, so
    # two transactions never both read and then fight to upgrade (the "database is locked"
    # deadlock); the timeout makes a waiting writer queue instead of failing. `core.sqlite`
    # queues transactions on a lock file that wakes waiters at once (SQLite's own handler
    # sleeps up to 100 ms between tries).
    DATABASES["default"]["ENGINE"] = "core.sqlite"
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": env.float("SQLITE_TIMEOUT_S", default=30.0),
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests use a file (threads and server processes must share it), one per test run.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
    "DB_POOL", default=True
):
    # A chat gives its connection back while it waits on the model (chat.pipeline), so a
    # worker needs a connection only for the few milliseconds of each transaction: a small
    # pool per worker serves hundreds of chats in flight. Past DB_POOL_TIMEOUT_S of waiting
    # for one, a request is a 503 with Retry-After (core.errors). No check as a connection
    # leaves the pool (CONN_HEALTH_CHECKS): after a restart psycopg's pool would try the dead
    # ones one at a time with growing sleeps; instead the first request that meets a dead one
    # fails fast and `core.db.recover_when_back` checks the whole pool once the database
    # answers. With PgBouncer in transaction mode, set DB_POOL=false (see the README).
    DATABASES["default"]["OPTIONS"] = {
        **DATABASES["default"].get("OPTIONS", {}),
        "pool": {
            "min_size": env.int("DB_POOL_MIN", default=2),
            "max_size": env.int("DB_POOL_MAX", default=10),
            "timeout": env.float("DB_POOL_TIMEOUT_S", default=5.0),
        },
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Without our pool, PgBouncer in transaction mode may be pooling: a server-side cursor
    # (`QuerySet.iterator()`, the index rebuild) would not survive its transaction there.
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
DB_RETRY_AFTER_S = positive_int("DB_RETRY_AFTER_S", 2)

# The default cache is a folder under DATA_DIR, so every worker on the machine shares it: the
# throttles count every worker's requests, and an answer cached by one is found by the others.
# (A local-memory cache would give each worker counts and answers of its own.) Several
# machines share Redis instead (CACHE_URL=redis://…).
CACHES = {"default": env.cache("CACHE_URL", default=f"filecache://{DATA_DIR / 'cache'}")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # Fail open while Redis is down (core/cache.py), and never wait long for it.
    CACHE_TIMEOUT_S = env.float("CACHE_TIMEOUT_S", default=1.0)
    CACHES["default"]["BACKEND"] = "core.cache.ResilientRedisCache"
    CACHES["default"]["OPTIONS"] = {
        "socket_connect_timeout": CACHE_TIMEOUT_S,
        "socket_timeout": CACHE_TIMEOUT_S,
        **CACHES["default"].get("OPTIONS", {}),
    }

# The channel layer carries a conversation's live events to every WebSocket open on it (chat/
# consumers.py). In memory it reaches the sockets of one worker; Redis (CHANNEL_LAYER_URL, by
# default the Redis of CACHE_URL, its keys prefixed "tally") reaches every worker and machine.
_CACHE_URL = env.str("CACHE_URL", default="")
_CACHE_REDIS = _CACHE_URL if _CACHE_URL.startswith(("redis://", "rediss://")) else ""
CHANNEL_LAYER_URL = env.str("CHANNEL_LAYER_URL", default=_CACHE_REDIS)
# A socket's queue holds 1,000 events (Channels' default, 100, drops the rest of a long answer
# sent to a slow client).
if CHANNEL_LAYER_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [CHANNEL_LAYER_URL], "prefix": "tally", "capacity": 1000},
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": 1000},
        }
    }
WS_MAX_SOCKETS_PER_USER = positive_int("WS_MAX_SOCKETS_PER_USER", 10)
WS_AUTH_TIMEOUT_S = positive_int("WS_AUTH_TIMEOUT_S", 10)
WS_IDLE_TIMEOUT_S = positive_int("WS_IDLE_TIMEOUT_S", 300)
WS_HEARTBEAT_S = positive_int("WS_HEARTBEAT_S", 30)

# --- Accounts and billing ---------------------------------------------------------------------

SIGNUP_TOKENS = non_negative_int("SIGNUP_TOKENS", 4000)
CHAT_COST = non_negative_int("CHAT_COST", 100)
# What a chat with a given model costs instead ("openai/gpt-4o=300,gemini/gemini-2.5-flash=150").
CHAT_PRICES = prices("CHAT_PRICES")
# "usage": a chat holds the most it can cost (its prompt and LLM_MAX_OUTPUT_TOKENS per round at
# the model's rates) and settles to what the model used; "flat": the price above (chat/pricing.py).
CHAT_PRICING = env.str("CHAT_PRICING", default="flat")
if CHAT_PRICING not in ("flat", "usage"):
    raise ImproperlyConfigured(f"CHAT_PRICING must be flat or usage, got {CHAT_PRICING!r}.")
CHAT_RATES = rates("CHAT_RATES")  # "openai/gpt-4o=2.5:10,…": credits per 1,000 tokens
CHAT_RATE_DEFAULT = rate("CHAT_RATE_DEFAULT", env.str("CHAT_RATE_DEFAULT", default="10:30"))
# A charge that takes a wallet under this many tokens alerts its user (email, when they gave
# an address) and LOW_BALANCE_WEBHOOK_URL, once per crossing (billing/alerts.py); 0 is off.
LOW_BALANCE_THRESHOLD = non_negative_int("LOW_BALANCE_THRESHOLD", 500)
LOW_BALANCE_WEBHOOK_URL = env.str("LOW_BALANCE_WEBHOOK_URL", default="")
LOW_BALANCE_WEBHOOK_SECRET = env.str("LOW_BALANCE_WEBHOOK_SECRET", default="")
LOW_BALANCE_WEBHOOK_ATTEMPTS = positive_int("LOW_BALANCE_WEBHOOK_ATTEMPTS", 6)
LOW_BALANCE_WEBHOOK_BACKOFF_S = env.float("LOW_BALANCE_WEBHOOK_BACKOFF_S", default=2.0)
# Mail for those alerts: the console in development; EMAIL_URL=smtp+tls://user:pass@host:587.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Tally <tally@localhost>")
# Chats one worker holds in flight (most of them waiting on the model); more get 503.
MAX_INFLIGHT_CHATS = positive_int("MAX_INFLIGHT_CHATS", 500)
OVERLOAD_RETRY_AFTER_S = positive_int("OVERLOAD_RETRY_AFTER_S", 2)
MAX_TOP_UP = positive_int("MAX_TOP_UP", 1_000_000)
DEMO_STAFF_USERNAME = env.str("DEMO_STAFF_USERNAME", default="staff")
DEMO_STAFF_PASSWORD = env.str("DEMO_STAFF_PASSWORD", default="tally-staff-demo")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- API tokens and login limits ----------------------------------------------------------------

# API tokens (django-rest-knox): only a digest is stored; a token expires TOKEN_TTL seconds
# after it was last used (renewed at most once an hour, so requests do not each write its row).
TOKEN_TTL = positive_int("TOKEN_TTL", 30 * 24 * 3600)
KNOX_TOKEN_MODEL = "accounts.ApiToken"  # noqa: S105 - a model, not a secret
# knox's own migrations would create its (swapped-out, unused) token table, whose foreign key to
# the user then blocks truncating users (PostgreSQL's flush). With none, nothing is created.
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {
    "TOKEN_TTL": timedelta(seconds=TOKEN_TTL),
    "AUTO_REFRESH": True,
    "MIN_REFRESH_INTERVAL": 3600,
    "AUTH_HEADER_PREFIX": "Token",
}
# Registrations per IPv4 address or IPv6 /64, and for everyone together; logins per address
# (THROTTLE_AUTH, below) and per account.
THROTTLE_SIGNUP = env.str("THROTTLE_SIGNUP", default="5/hour")
SIGNUP_GLOBAL_RATE = env.str("SIGNUP_GLOBAL_RATE", default="100/hour")
THROTTLE_LOGIN_ACCOUNT = env.str("THROTTLE_LOGIN_ACCOUNT", default="10/hour")
# django-axes locks out a login after AXES_FAILURE_LIMIT failures, API and admin alike (one
# password, one policy): see `accounts.lockout` for who is locked out and how it answers.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = positive_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=positive_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = "accounts.lockout.lockout_parameters"
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_address"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_USERNAME_CALLABLE = "accounts.lockout.username"
AXES_DISABLE_ACCESS_LOG = True  # failures are what lock out; successful logins are not kept

# --- Chat -------------------------------------------------------------------------------------

CHAT_MAX_CHARS = positive_int("CHAT_MAX_CHARS", 4000)
CHAT_HISTORY_MESSAGES = non_negative_int("CHAT_HISTORY_MESSAGES", 20)
CHAT_HISTORY_TOKEN_BUDGET = positive_int("CHAT_HISTORY_TOKEN_BUDGET", 3000)
CHAT_MAX_TOOL_ROUNDS = positive_int("CHAT_MAX_TOOL_ROUNDS", 4)
CHAT_CACHE_TTL = non_negative_int("CHAT_CACHE_TTL", 3600)
CHAT_CHARGE_CACHE_HITS = env.bool("CHAT_CHARGE_CACHE_HITS", default=True)
THROTTLE_CHAT = env.str("THROTTLE_CHAT", default="30/min")
# Days of request log kept by `manage.py prune_logs` (the ledger is never pruned).
REQUEST_LOG_RETENTION_DAYS = positive_int("REQUEST_LOG_RETENTION_DAYS", 90)

# --- Orders -----------------------------------------------------------------------------------

MAX_ITEM_QUANTITY = positive_int("MAX_ITEM_QUANTITY", 20)
SHOP_CURRENCY = env.str("SHOP_CURRENCY", default="EUR")

# --- Model providers --------------------------------------------------------------------------

LLM_PROVIDER = env.str("LLM_PROVIDER", default="local")
LLM_FALLBACKS = env.list("LLM_FALLBACKS", default=[])
LLM_TIMEOUT_S = env.float("LLM_TIMEOUT_S", default=30.0)
LLM_MAX_OUTPUT_TOKENS = positive_int("LLM_MAX_OUTPUT_TOKENS", 1024)
LOCAL_MODEL = env.str("LOCAL_MODEL", default="tally-local-1")
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
OPENAI_MODEL = env.str("OPENAI_MODEL", default="gpt-4o-mini")
OPENAI_MODELS = env.list("OPENAI_MODELS", default=[OPENAI_MODEL])
OPENAI_EMBEDDING_MODEL = env.str("OPENAI_EMBEDDING_MODEL", default="text-embedding-3-small")
GEMINI_API_KEY = env.str("GEMINI_API_KEY", default="")
GEMINI_BASE_URL = env.str("GEMINI_BASE_URL", default="")
GEMINI_MODEL = env.str("GEMINI_MODEL", default="gemini-2.5-flash")
GEMINI_MODELS = env.list("GEMINI_MODELS", default=[GEMINI_MODEL])
GEMINI_EMBEDDING_MODEL = env.str("GEMINI_EMBEDDING_MODEL", default="gemini-embedding-001")

# --- HTTP API ---------------------------------------------------------------------------------

# How many reverse proxies to believe in X-Forwarded-For. 0 means the socket address is the
# client: DRF's own default would trust a header any client can forge.
TRUSTED_PROXIES = non_negative_int("TRUSTED_PROXIES", 0)
# Request bodies past this are refused with 413 as they arrive (core/body_limit.py); uploads
# have MAX_UPLOAD_BYTES instead. It must hold the largest JSON the API takes: a chat message of
# CHAT_MAX_CHARS characters, each up to 12 bytes as a JSON escaped surrogate pair (\ud83d\ude00).
MAX_REQUEST_BYTES = positive_int("MAX_REQUEST_BYTES", 256 * 1024)
if MAX_REQUEST_BYTES < 12 * CHAT_MAX_CHARS + 4096:
    raise ImproperlyConfigured(
        f"MAX_REQUEST_BYTES ({MAX_REQUEST_BYTES}) must be at least 12 * CHAT_MAX_CHARS + 4096 "
        f"({12 * CHAT_MAX_CHARS + 4096}), or the longest chat message could be refused."
    )
# Django's own cap on a body read into memory (form fields; files are not counted), the same.
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES

if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off when TALLY_ENV=production.")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^api/health/$"]  # load balancers probe over plain HTTP
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = non_negative_int("SECURE_HSTS_SECONDS", 31_536_000)
    CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    if TRUSTED_PROXIES:
        # The proxy terminates TLS and says so; believe it only when proxies are trusted.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Run once per worker at startup (core.warmup), so that its first chat is not the slow one.
WARMUP = [
    "core.warmup.urls",
    "providers.registry.warm",
    "retrieval.selectors.warm",
    "orders.catalog.warm",
]
# What `GET /api/health/` checks: name → a function returning "ok…" or raising.
HEALTH_CHECKS = {
    "database": "core.health.database",
    "cache": "core.health.cache_round_trip",
    "retrieval": "retrieval.selectors.index_health",
    "provider": "providers.registry.health",
}
THROTTLE_AUTH = env.str("THROTTLE_AUTH", default="20/min")

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.negotiation.FirstRendererWhenUnsatisfied",
    "DEFAULT_PAGINATION_CLASS": "core.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "EXCEPTION_HANDLER": "core.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Tally API",
    "DESCRIPTION": "A token-metered REST API for an AI shop assistant.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and Redoc assets are served from this app, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "TAGS": [
        {"name": "accounts", "description": "Register, log in and out, who am I."},
        {"name": "billing", "description": "Token balance, ledger, staff top-ups."},
        {"name": "chat", "description": "Metered chats and conversations."},
        {"name": "orders", "description": "The catalog and your orders."},
        {"name": "providers", "description": "The models a chat may use."},
        {"name": "retrieval", "description": "Documents, the shared knowledge base, search."},
        {"name": "health", "description": "Readiness of this server."},
        {
            "name": "openai",
            "description": "The OpenAI-compatible API: point any OpenAI client at `/v1` with "
            "a Tally token as its API key; metered like `/api/chat/`.",
        },
    ],
}

# --- Logging ----------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # faiss announces at INFO which CPU build it loaded, on every process start; django-axes
    # announces itself and narrates each login failure (its warnings say what matters).
    "loggers": {"faiss.loader": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

# --- Retrieval ----------------------------------------------------------------------------------

MAX_UPLOAD_BYTES = positive_int("MAX_UPLOAD_BYTES", 10 * 1024 * 1024)
# What one upload may unpack to: its text, a PDF's pages, a Word file's unzipped parts.
MAX_EXTRACTED_CHARS = positive_int("MAX_EXTRACTED_CHARS", 2_000_000)
MAX_PDF_PAGES = positive_int("MAX_PDF_PAGES", 500)
MAX_DOCX_UNPACKED_BYTES = positive_int("MAX_DOCX_UNPACKED_BYTES", 32 * 1024 * 1024)
# Each user's private documents (the shared knowledge base, staff's, is not counted).
DOCUMENT_QUOTA_DOCUMENTS = positive_int("DOCUMENT_QUOTA_DOCUMENTS", 100)
DOCUMENT_QUOTA_BYTES = positive_int("DOCUMENT_QUOTA_BYTES", 100 * 1024 * 1024)
THROTTLE_UPLOAD = env.str("THROTTLE_UPLOAD", default="30/hour")
THROTTLE_SEARCH = env.str("THROTTLE_SEARCH", default="60/min")
CHUNK_SIZE = positive_int("CHUNK_SIZE", 1000)
CHUNK_OVERLAP = non_negative_int("CHUNK_OVERLAP", 200)
if CHUNK_OVERLAP >= CHUNK_SIZE:
    raise ImproperlyConfigured(
        f"CHUNK_OVERLAP ({CHUNK_OVERLAP}) must be smaller than CHUNK_SIZE ({CHUNK_SIZE})."
    )
EMBEDDER = env.str("EMBEDDER", default="wordllama")
EMBEDDING_DIM = positive_int("EMBEDDING_DIM", 384)
RETRIEVAL_TOP_K = positive_int("RETRIEVAL_TOP_K", 4)
# None: the embedder's own floor (hashing 0.05, wordllama 0.15, vendors 0.25).
RETRIEVAL_MIN_SCORE = (
    env.float("RETRIEVAL_MIN_SCORE") if env.str("RETRIEVAL_MIN_SCORE", "") else None
)
# Fuse the database's full-text ranking with the vectors' (reciprocal rank fusion).
RETRIEVAL_HYBRID = env.bool("RETRIEVAL_HYBRID", default=True)
# Above this many vectors a scope's snapshot is an HNSW graph: an exact scan of 20k 256-dim
# vectors takes ~1.5 ms (p99 ~2.7), of 50k ~4 ms, of 100k ~9 ms, while the graph answers 100k
# in ~1.5 ms (bench/README.md, "Retrieval").
RETRIEVAL_HNSW_THRESHOLD = positive_int("RETRIEVAL_HNSW_THRESHOLD", 20_000)
RETRIEVAL_HNSW_EF_SEARCH = positive_int("RETRIEVAL_HNSW_EF_SEARCH", 512)
RETRIEVAL_SEARCH_THREADS = positive_int("RETRIEVAL_SEARCH_THREADS", 1)
# One OpenMP thread per FAISS call: the server already runs a worker per core, and threads
# spinning for a busy core made searches several times slower at p99 under load. OpenMP takes
# every thread's count from this variable once, when FAISS loads (after the settings);
# `omp_set_num_threads` would change only its caller's, and the request and task threads ran
# one OpenMP thread per core that spun idle after every FAISS call (perf put a large share of
# a chat server's CPU there). numpy's OpenBLAS, loaded later too, reads it as well.
os.environ["OMP_NUM_THREADS"] = str(RETRIEVAL_SEARCH_THREADS)
# Background tasks (django-tasks): inline by default; "django_tasks_db.DatabaseBackend" (the
# django-tasks-db package) queues them in the database for `manage.py db_worker`. Work that
# must not hold up a response (remembering chat exchanges) goes to the "background" alias: a
# thread of the server process when tasks run inline; with a queue, the queue.
IMMEDIATE_TASKS = "django_tasks.backends.immediate.ImmediateBackend"
TASKS_BACKEND = env.str("TASKS_BACKEND", default=IMMEDIATE_TASKS)
TASKS = {"default": {"BACKEND": TASKS_BACKEND}}
if TASKS_BACKEND == IMMEDIATE_TASKS:
    TASKS["background"] = {"BACKEND": "core.tasks.BackgroundBackend"}
if TASKS_BACKEND.startswith("django_tasks_db."):
    INSTALLED_APPS.append("django_tasks_db")

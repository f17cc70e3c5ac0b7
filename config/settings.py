"""Settings for the call center.

Every setting that differs between a laptop and production is read from the environment here,
and only here. With nothing set, the product runs on embedded defaults: SQLite, the in-memory
channel layer and files under ``media/``.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from exc


def env_float(name: str, default: float, low: float, high: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from exc
    if not low <= number <= high:
        raise ImproperlyConfigured(f"{name} must be between {low:g} and {high:g}")
    return number


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# --- Core -----------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Run `make run` once (it makes var/secret_key, which "
            "manage.py then reads) or set SECRET_KEY in the environment; production must "
            "provide its own."
        )
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "config.apps.ServiceDeskAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "rest_framework.authtoken",
    "django_filters",
    "callcenter",
    "vehicles",
    "monitoring",
    "recordings",
    "appointments",
    "telephony",
    "campaigns",
    "desk",
    "agentworker",
    "axes",
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
    "csp.middleware.CSPMiddleware",
    "config.middleware.LiveKitCSPMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

# Logins are locked after LOGIN_FAILURE_LIMIT wrong passwords, per user name and per client
# address (each on its own), for LOGIN_LOCKOUT_MINUTES; django-axes logs every failure and
# lockout. A correct login resets the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "callcenter.permissions.client_address"
AXES_HTTP_RESPONSE_CODE = 429

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

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
                "config.context_processors.service_desk",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------

# Behind a pooler in transaction mode (PgBouncer's pool_mode = transaction; README: many calls
# against one PostgreSQL), a connection may change server between transactions: cursors that
# outlive a transaction (Django's server-side cursors for .iterator()) are then turned off.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
        conn_health_checks=True,
        disable_server_side_cursors=env_bool("DATABASE_TRANSACTION_POOLING", False),
    )
}
# A database host that vanishes (its link cut, not its server stopped) answers nothing: without
# these, a connection attempt waits out the kernel's SYN retries (two minutes) and a query on a
# kept connection its retransmissions (a quarter of an hour), holding up the call writer's
# retries long after the database is back. With them a dead connection fails within
# DATABASE_NETWORK_TIMEOUT seconds, and the next attempt opens a fresh one (libpq's options).
DATABASE_NETWORK_TIMEOUT = env_int("DATABASE_NETWORK_TIMEOUT", 10)
if DATABASE_NETWORK_TIMEOUT < 1:
    raise ImproperlyConfigured("DATABASE_NETWORK_TIMEOUT must be at least 1 second.")
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        connect_timeout=DATABASE_NETWORK_TIMEOUT,
        keepalives=1,
        keepalives_idle=max(1, DATABASE_NETWORK_TIMEOUT // 2),
        keepalives_interval=max(1, DATABASE_NETWORK_TIMEOUT // 6),
        keepalives_count=3,
        tcp_user_timeout=DATABASE_NETWORK_TIMEOUT * 1000,
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels -------------------------------------------------------------------------------

REDIS_URL = env_str("REDIS_URL")
# "pubsub" (default): Redis PUBLISH, one message per group send that every daphne process
# receives once and hands to its own consumers; subscriptions die with their process. "core":
# channels-redis' list-based layer, one copy per consumer (bounded by CHANNEL_LAYER_CAPACITY).
# The monitor is correct on either: a consumer that misses a delta reads the gap from the
# database (sequence numbers), and a reconnecting page resumes from its last sequence.
CHANNEL_LAYER_KIND = env_str("CHANNEL_LAYER_KIND", "pubsub")
if CHANNEL_LAYER_KIND not in ("pubsub", "core"):
    raise ImproperlyConfigured("CHANNEL_LAYER_KIND must be pubsub or core.")
if REDIS_URL and CHANNEL_LAYER_KIND == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": env_str("CHANNEL_LAYER_PREFIX", "callcenter"),
            },
        }
    }
elif REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": env_str("CHANNEL_LAYER_PREFIX", "callcenter"),
                "capacity": env_int("CHANNEL_LAYER_CAPACITY", 1000),
                "expiry": 60,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Files ----------------------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or BASE_DIR / "media")

# S3 or MinIO through django-storages when a bucket is named; the local media/ folder otherwise.
S3_BUCKET = env_str("S3_BUCKET")
S3_ACCESS_KEY_ID = env_str("S3_ACCESS_KEY_ID")
S3_SECRET_ACCESS_KEY = env_str("S3_SECRET_ACCESS_KEY")
S3_REGION = env_str("S3_REGION")
S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL")
S3_ADDRESSING_STYLE = env_str("S3_ADDRESSING_STYLE")
if S3_BUCKET:
    DEFAULT_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": S3_ENDPOINT_URL or None,
            "region_name": S3_REGION or None,
            "access_key": S3_ACCESS_KEY_ID or None,
            "secret_key": S3_SECRET_ACCESS_KEY or None,
            "addressing_style": S3_ADDRESSING_STYLE or None,
            "querystring_expire": env_int("S3_PRESIGNED_URL_SECONDS", 300),
            "signature_version": "s3v4",
            "file_overwrite": False,
            "default_acl": None,
        },
    }
else:
    DEFAULT_STORAGE = {"BACKEND": "django.core.files.storage.FileSystemStorage"}

STORAGES = {
    "default": DEFAULT_STORAGE,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Auth, API, i18n ------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# API tokens (``Authorization: Token …``) work this many days after they are made.
API_TOKEN_DAYS = env_int("API_TOKEN_DAYS", 30)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's session authentication, its CSRF check also for anonymous callers.
        "callcenter.authentication.CallerSessionAuthentication",
        "callcenter.authentication.ExpiringTokenAuthentication",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    # Secure by default: every endpoint is staff-only unless it says otherwise.
    # Supervisors only, unless a view says otherwise (starting a call does).
    "DEFAULT_PERMISSION_CLASSES": ["callcenter.permissions.IsSupervisor"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # One hop: the proxy in front of daphne appends the client address to X-Forwarded-For.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
}

# How often an agent worker tells the web app it is registered; after three beats without
# one, call starts are answered "voice calls are not available right now".
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 10)
# What one call may do through the agent's tools (the caller steers the model): bookings it
# may make, upcoming bookings one contact may hold, vehicles it may register.
MAX_BOOKINGS_PER_CALL = env_int("MAX_BOOKINGS_PER_CALL", 3)
MAX_ACTIVE_BOOKINGS_PER_CONTACT = env_int("MAX_ACTIVE_BOOKINGS_PER_CONTACT", 3)
MAX_VEHICLES_PER_CALL = env_int("MAX_VEHICLES_PER_CALL", 2)

# How many calls one client address may start: "<count>/<second|minute|hour|day>".
CALL_START_RATE = env_str("CALL_START_RATE", "10/hour")
# Calls waiting for the agent at once, across all callers: a flood from many addresses gets a
# 503 instead of filling every monitor. A call not answered within UNANSWERED_CALL_MINUTES no
# longer counts, and sweep_stale_calls marks it failed.
MAX_WAITING_CALLS = env_int("MAX_WAITING_CALLS", 50)
UNANSWERED_CALL_MINUTES = env_int("UNANSWERED_CALL_MINUTES", 2)
# A phone caller who asked for a person is transferred to their line's transfer destination
# when no supervisor has taken the call over within this many seconds.
PHONE_TRANSFER_AFTER_SECONDS = env_int("PHONE_TRANSFER_AFTER_SECONDS", 30)
# A handoff to the desk (a person answering in the browser) rings one available person at a
# time, this many seconds each, then the next; a caller nobody took within
# HANDOFF_WAIT_SECONDS is offered a callback or an appointment, and the handoff stays in the
# desk's queue as a callback task.
HANDOFF_RING_SECONDS = env_int("HANDOFF_RING_SECONDS", 20)
HANDOFF_WAIT_SECONDS = env_int("HANDOFF_WAIT_SECONDS", 90)
# The person who takes a handoff hears the agent's brief on a track only they receive before
# the agent introduces them (they read it on their page in any case).
HANDOFF_SPOKEN_BRIEF = env_bool("HANDOFF_SPOKEN_BRIEF", True)
# The credentials the SIP provider asks for on calls out (callbacks); empty: none asked.
SIP_OUTBOUND_USERNAME = env_str("SIP_OUTBOUND_USERNAME")
SIP_OUTBOUND_PASSWORD = env_str("SIP_OUTBOUND_PASSWORD")
# How long a callback rings before it counts as not answered.
CALLBACK_RINGING_SECONDS = env_int("CALLBACK_RINGING_SECONDS", 30)
# How long a callback's answering-machine detection may listen before the agent speaks anyway
# (a line that never falls silent, e.g. hold music, would keep it listening).
CALLBACK_DETECTION_SECONDS = env_int("CALLBACK_DETECTION_SECONDS", 30)
# Where callbacks may dial: E.164 prefixes, comma-separated (e.g. "+49,+43"); empty: the
# country of the line the call came in on. Premium-rate and shared-cost numbers never.
CALLBACK_ALLOWED_PREFIXES = env_list("CALLBACK_ALLOWED_PREFIXES")
# Callbacks to one number per day, and callbacks one supervisor may ask for per hour.
CALLBACKS_PER_NUMBER_PER_DAY = env_int("CALLBACKS_PER_NUMBER_PER_DAY", 3)
CALLBACKS_PER_SUPERVISOR_PER_HOUR = env_int("CALLBACKS_PER_SUPERVISOR_PER_HOUR", 20)
# How long the call page waits for the assistant to answer before it says so.
CALLER_WAIT_SECONDS = env_int("CALLER_WAIT_SECONDS", 20)

# The service desk as callers and staff know it: one name on every page, the admin and the API
# docs, and the way to reach a person whenever voice calls are unavailable.
SERVICE_DESK_NAME = env_str("SERVICE_DESK_NAME", "Service desk")
SERVICE_DESK_PHONE = env_str("SERVICE_DESK_PHONE")
SERVICE_DESK_HOURS = env_str("SERVICE_DESK_HOURS")
# The workshop's time zone: appointments are stored in UTC and read, spoken and shown in it.
SHOP_TIME_ZONE = env_str("SHOP_TIME_ZONE", env_str("TIME_ZONE", "UTC"))

SPECTACULAR_SETTINGS = {
    "TITLE": f"{SERVICE_DESK_NAME} API",
    "DESCRIPTION": "Start calls, listen in, and read the call history.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["callcenter.permissions.IsSupervisor"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # A call's status and a recording's status are different choices with the same name.
    "ENUM_NAME_OVERRIDES": {
        "CallStatusEnum": "callcenter.models.Call.Status",
        "RecordingStatusEnum": "recordings.models.Recording.Status",
        "AppointmentStatusEnum": "appointments.models.Appointment.Status",
    },
}

# Throttling counts must be shared by every web process: Redis when there is one.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env_str("CACHE_REDIS_URL", REDIS_URL),
            "KEY_PREFIX": env_str("CHANNEL_LAYER_PREFIX", "callcenter"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Security -------------------------------------------------------------------------------

# Production runs behind HTTPS; the local run command serves plain HTTP on 127.0.0.1.
HTTPS_ONLY = env_bool("HTTPS_ONLY", False)
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = HTTPS_ONLY
SESSION_COOKIE_SECURE = HTTPS_ONLY
CSRF_COOKIE_SECURE = HTTPS_ONLY
SECURE_HSTS_SECONDS = 31536000 if HTTPS_ONLY else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS_ONLY
SECURE_HSTS_PRELOAD = HTTPS_ONLY
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Only our own scripts run; LiveKit and S3 origins are added per request from settings
# (config.middleware). Styles allow inline attributes, which the admin uses.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "media-src": [SELF, "blob:"],
        "connect-src": [SELF],
        "worker-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
SESSION_COOKIE_HTTPONLY = True

# --- LiveKit, LLM, speech -------------------------------------------------------------------

LIVEKIT_URL = env_str("LIVEKIT_URL")
# Where browsers reach LiveKit, when not at LIVEKIT_URL: with several hosts, the web and worker
# hosts talk to a media node over the private network (ws://media1:7880) while callers come
# through the edge's TLS (wss://livekit.example.com).
# Unset: LIVEKIT_URL (callcenter.livekit_tokens.public_url).
LIVEKIT_PUBLIC_URL = env_str("LIVEKIT_PUBLIC_URL")
LIVEKIT_API_KEY = env_str("LIVEKIT_API_KEY")
LIVEKIT_API_SECRET = env_str("LIVEKIT_API_SECRET")
# The name the agent worker registers under; tokens dispatch this agent explicitly.
LIVEKIT_AGENT_NAME = env_str("LIVEKIT_AGENT_NAME", "callcenter-agent")
# Calls one worker takes at most: its load reported to LiveKit is its calls over this number
# (not the machine's CPU, which other programs on the host move).
AGENT_MAX_CALLS = env_int("AGENT_MAX_CALLS", 20)
# A call whose agent was lost (its worker died) is resumed by a new job on another worker; the
# caller's page waits this long for it, after which the call has failed (the sweeper's rule).
AGENT_RESUME_SECONDS = env_int("AGENT_RESUME_SECONDS", 20)
if AGENT_MAX_CALLS < 1:
    raise ImproperlyConfigured("AGENT_MAX_CALLS must be at least 1")
# Job processes the worker keeps started and prewarmed (models loaded) for the next calls while
# it has room (livekit-agents' num_idle_processes); unset: its default, one per CPU with
# `start`, none with `dev`.
AGENT_IDLE_PROCESSES = (
    env_int("AGENT_IDLE_PROCESSES", 0) if env_str("AGENT_IDLE_PROCESSES").strip() else None
)
if AGENT_IDLE_PROCESSES is not None and AGENT_IDLE_PROCESSES < 0:
    raise ImproperlyConfigured("AGENT_IDLE_PROCESSES must be 0 or more")

OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL")
LLM_MODEL = env_str("LLM_MODEL", "gpt-4o-mini")
# The post-call review (callcenter.review): which judges read each call (livekit-agents'
# task_completion, accuracy, tool_use, safety, relevancy, coherence, conciseness; the desk's
# vin_handled, booking_confirmed), with which model (blank: LLM_MODEL), what share of calls
# (0 to 1), from how many seconds on, and the score below which a call is flagged.
REVIEW_JUDGES = env_list(
    "REVIEW_JUDGES", "task_completion,accuracy,tool_use,safety,vin_handled,booking_confirmed"
)
REVIEW_MODEL = env_str("REVIEW_MODEL")
REVIEW_SAMPLE = env_float("REVIEW_SAMPLE", 1.0, 0.0, 1.0)
REVIEW_MIN_SECONDS = env_int("REVIEW_MIN_SECONDS", 15)
REVIEW_MIN_SCORE = env_float("REVIEW_MIN_SCORE", 0.8, 0.0, 1.0)
# Speech through OpenAI-compatible servers of their own (e.g. a local speech server beside a
# local LLM): each defaults to OPENAI_BASE_URL and the plugin's own model and voice.
STT_BASE_URL = env_str("STT_BASE_URL")
STT_MODEL = env_str("STT_MODEL")
TTS_BASE_URL = env_str("TTS_BASE_URL")
TTS_MODEL = env_str("TTS_MODEL")
TTS_VOICE = env_str("TTS_VOICE")

AZURE_SPEECH_KEY = env_str("AZURE_SPEECH_KEY")
AZURE_SPEECH_REGION = env_str("AZURE_SPEECH_REGION")
# Languages callers may speak (Azure auto-detects among them) and the voice for each.
CALL_LANGUAGES = env_list("CALL_LANGUAGES", "en-US")
AZURE_VOICES = dict(
    item.split("=", 1) for item in env_list("AZURE_VOICES", "en-US=en-US-JennyNeural")
)

# How the agent decides that the caller has finished speaking: "model" (the end-of-turn model
# shipped in livekit-agents, v1-mini, on the caller's audio) or "vad" (silence alone).
TURN_DETECTION = env_str("TURN_DETECTION", "model")
if TURN_DETECTION not in {"model", "vad"}:
    raise ImproperlyConfigured("TURN_DETECTION must be one of: model, vad")

# Sounds a caller hears from the desk (livekit-agents' BackgroundAudioPlayer, its bundled
# clips, on a track of their own: never in the recording or the transcript): keyboard typing
# while the agent thinks or a tool runs, and an office in the background.
THINKING_SOUND = env_str("THINKING_SOUND", "keyboard")
if THINKING_SOUND not in {"keyboard", "off"}:
    raise ImproperlyConfigured("THINKING_SOUND must be one of: keyboard, off")
AMBIENT_SOUND = env_str("AMBIENT_SOUND", "off")
if AMBIENT_SOUND not in {"office", "off"}:
    raise ImproperlyConfigured("AMBIENT_SOUND must be one of: office, off")

RECORDING_MODE = env_str("RECORDING_MODE", "off")
if RECORDING_MODE not in {"egress", "agent", "off"}:
    raise ImproperlyConfigured("RECORDING_MODE must be one of: egress, agent, off")
if RECORDING_MODE == "egress" and not S3_BUCKET:
    raise ImproperlyConfigured("RECORDING_MODE=egress needs S3_BUCKET: LiveKit writes to S3")
# Where the worker keeps the audio of fixed sentences (greeting, announcement) per voice.
SPEECH_CACHE_DIR = Path(env_str("SPEECH_CACHE_DIR") or BASE_DIR / "var" / "speech")
# Where the worker keeps agent-side recordings until the storage has them.
RECORDING_SPOOL_DIR = Path(env_str("RECORDING_SPOOL_DIR") or BASE_DIR / "var" / "recording-spool")
# Retention: recordings older than this many days are deleted by purge_recordings.
RECORDING_RETENTION_DAYS = env_int("RECORDING_RETENTION_DAYS", 90)
# Delete the Recording rows too (else only the files, keeping a trace that there was one).
RECORDING_RETENTION_DELETE_ROWS = env_bool("RECORDING_RETENTION_DELETE_ROWS", False)

# --- Logging --------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "axes.apps": {"level": "WARNING"},  # its start-up banner; failures and lockouts stay
    },
}

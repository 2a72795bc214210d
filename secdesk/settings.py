"""SecondDesk settings: everything comes from the environment (12-factor, django-environ).

Development defaults point at the local PostgreSQL and Redis; with DEBUG off there are no default secrets.
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF, UNSAFE_INLINE

from secdesk.logging import logging_config_from_env

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production")
else:
    SECRET_KEY = env.str("SECRET_KEY")  # required: no default secret outside development

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[PUBLIC_BASE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django_htmx",
    "rest_framework",
    "drf_spectacular",
    "secdesk",
    "tenants",
    "telephony",
    "messaging",
    "intake",
    "inbox",
    "compliance",
    "integrations",
]

MIDDLEWARE = [
    # First, so every log line of the request (including other middleware's) carries its id.
    "secdesk.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",  # CONTENT_SECURITY_POLICY below
    "django_htmx.middleware.HtmxMiddleware",
    # Must run after authentication: resolves request.business for /app/<slug>/ URLs.
    "tenants.middleware.TenantMiddleware",
    # Turns django-ratelimit's block into our 429 page (RATELIMIT_VIEW) instead of a 403.
    "django_ratelimit.middleware.RatelimitMiddleware",
]

ROOT_URLCONF = "secdesk.urls"

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
                "tenants.context_processors.tenant",
            ],
        },
    },
]

WSGI_APPLICATION = "secdesk.wsgi.application"
ASGI_APPLICATION = "secdesk.asgi.application"

# PostgreSQL through psycopg 3. The connection pool is on by default for long-lived processes
# (gunicorn, Celery); DB_POOL=0 turns it off (the test runner does, as pytest-django recreates databases).
DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/secdesk")}
if env.bool("DB_POOL", default=True):
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN", default=1),
        "max_size": env.int("DB_POOL_MAX", default=10),
        "timeout": 10,
    }
    # Django then has the pool check each connection as it is handed out (one empty round trip): after PostgreSQL
    # restarts, every idle pooled connection is dead, and without the check each would fail one request with a 500.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default=None)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "secdesk.cache.RedisCache",  # Django's, reusing its client (see the module)
        "LOCATION": env.str("CACHE_URL", default=REDIS_URL),
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="secdesk"),
        "TIMEOUT": 300,
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_USER_MODEL = "tenants.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
LANGUAGES = [("en", "English"), ("es", "Español")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="SecondDesk <no-reply@seconddesk.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Celery: Postgres is the source of truth, the broker only a doorbell (see docs/architecture.md).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = 60
CELERY_TASK_SOFT_TIME_LIMIT = 45
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "messaging.tasks.send_message": {"queue": "textback"},
    "messaging.tasks.reconcile_message": {"queue": "textback"},
    "messaging.tasks.sweep_outbound": {"queue": "textback"},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing happens inside requests (on commit): with the broker down, Celery's default policy (3 retries, up to
# 1 s apart) held every webhook for 0.6-1.7 s. One immediate retry still gets past a connection that went stale
# when Redis restarted; anything longer is the sweeper's job, as the row is already committed.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0}
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# Several deployments sharing one Redis database (staging, the reliability tests) each need their own queues.
if CELERY_BROKER_KEY_PREFIX := env.str("CELERY_BROKER_KEY_PREFIX", default=""):
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = CELERY_BROKER_KEY_PREFIX
CELERY_BEAT_SCHEDULE = {
    "sweep-outbound": {"task": "messaging.tasks.sweep_outbound", "schedule": 2.0, "options": {"expires": 2.0}},
    # inbound MMS media whose fetch was lost or failed (default queue: downloads can be slow)
    "sweep-media": {"task": "messaging.tasks.sweep_media", "schedule": 60.0, "options": {"expires": 60.0}},
    # members' alerts (email and text), batched per member; on the default queue, as email can be slow
    "send-notifications": {"task": "inbox.tasks.send_notifications", "schedule": 5.0, "options": {"expires": 5.0}},
    # escalation pages, answer-time reminders and follow-ups: rows with a due time, fired exactly once
    "sweep-timers": {"task": "inbox.tasks.sweep_timers", "schedule": 5.0, "options": {"expires": 5.0}},
    # snoozed conversations come back on time (to within the interval)
    "wake-snoozed": {"task": "inbox.tasks.wake_snoozed", "schedule": 30.0, "options": {"expires": 30.0}},
    # outbound webhooks: re-ring lost deliveries and retries that came due
    "sweep-webhooks": {"task": "integrations.tasks.sweep_webhooks", "schedule": 5.0, "options": {"expires": 5.0}},
    # retention: purge message text and recordings past each business's retention period, daily at 03:30 UTC
    "purge-expired": {
        "task": "compliance.tasks.purge_expired",
        "schedule": crontab(hour=3, minute=30),
        "options": {"expires": 3600},
    },
}
CELERY_TIMEZONE = "UTC"

# Outbound sending (messaging/sending.py): when a `sending` row counts as abandoned by a dead worker (keep it above
# the task time limit), how long an ambiguous send waits before it is looked up at the carrier, and how often the
# sweeper may re-ring a queued row. The defaults are the production values; the reliability tests shorten them.
MESSAGING_STUCK_SENDING_SECONDS = env.float("MESSAGING_STUCK_SENDING_SECONDS", default=CELERY_TASK_TIME_LIMIT + 30)
MESSAGING_RECONCILE_AFTER_SECONDS = env.float("MESSAGING_RECONCILE_AFTER_SECONDS", default=30.0)
# An ambiguous send still missing from the carrier's listing this long after the attempt never got there: queued again.
MESSAGING_RESEND_ABSENT_AFTER_SECONDS = env.float("MESSAGING_RESEND_ABSENT_AFTER_SECONDS", default=120.0)
MESSAGING_SWEEP_REENQUEUE_SECONDS = env.float("MESSAGING_SWEEP_REENQUEUE_SECONDS", default=15.0)

# Carriers: one module per provider, registered here.
TELEPHONY_PROVIDERS = {
    "twilio": "telephony.providers.twilio.TwilioProvider",
    "simulator": "telephony.providers.simulator.SimulatorProvider",
}
TWILIO_API_BASE_URL = env.str("TWILIO_API_BASE_URL", default="https://api.twilio.com").rstrip("/")
# (connect, read) seconds for carrier API requests; a read timeout makes a send "unknown", never resent blindly.
TWILIO_TIMEOUT = (env.float("TWILIO_CONNECT_TIMEOUT", default=3.05), env.float("TWILIO_READ_TIMEOUT", default=10.0))
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
# Seconds a process may reuse a number's configuration and an account's token on the webhook hot path.
TELEPHONY_CONFIG_CACHE_SECONDS = env.float("TELEPHONY_CONFIG_CACHE_SECONDS", default=2.0)
# Key for carrier credentials at rest (Fernet, urlsafe base64 of 32 bytes); derived from SECRET_KEY when unset.
FIELD_ENCRYPTION_KEY = env.str("FIELD_ENCRYPTION_KEY", default="")

# Outbound webhooks may only reach public addresses (no SSRF into the private network or the cloud metadata
# address). Development and tests post to local receivers, so private addresses are allowed when DEBUG is on;
# never turn this on in production unless every receiver is on a network you trust.
WEBHOOKS_ALLOW_PRIVATE = env.bool("WEBHOOKS_ALLOW_PRIVATE", default=DEBUG)
# (connect, read) seconds for a webhook request: a slow receiver is retried, it never holds a worker for long
WEBHOOKS_TIMEOUT = (3.05, 10.0)

RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)
RATELIMIT_VIEW = "secdesk.views.ratelimited"
RATELIMIT_IP_META_KEY = env.str("RATELIMIT_IP_META_KEY", default="REMOTE_ADDR")

LOGO_MAX_BYTES = 2 * 1024 * 1024

# REST API (/api/v1/): bearer API keys only (no session cookies, so no CSRF surface), JSON in and out, one error
# body shape (secdesk/rest.py), cursor pages, a request budget per key.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.api.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.api.HasApiKey"],
    "DEFAULT_THROTTLE_CLASSES": ["tenants.api.ApiKeyThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "secdesk.rest.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="600/min")
SPECTACULAR_SETTINGS = {
    "TITLE": "SecondDesk API",
    "DESCRIPTION": (
        "Calls, conversations, messages, contacts, intake submissions, the consent ledger and webhook endpoints of "
        "one business. "
        "Send an API key (Settings → API keys, owners only) as `Authorization: Bearer <key>`; the key decides the "
        "business. Lists are cursor-paginated (follow `next`), newest first. Errors are "
        '`{"error": {"code": ..., "message": ..., "fields": {...}}}`. Each key may make API_THROTTLE_RATE '
        "requests (600 a minute by default); more get 429 with a Retry-After header."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # several models have a "kind": name each choice set after its model
    "ENUM_NAME_OVERRIDES": {
        "WebhookEndpointKindEnum": "integrations.models.WebhookEndpoint.Kind",
        "MessageKindEnum": "messaging.models.Message.Kind",
        "ConsentEventKindEnum": "compliance.models.ConsentEvent.Kind",
    },
}

# Logging (secdesk/logging.py): JSON lines in production, plain text in development (LOG_FORMAT overrides), a
# request id on every web request's lines, task name and id on a Celery task's, secrets masked on every handler.
LOGGING = logging_config_from_env(env)
# Error pages (and error e-mails, if an AdminEmailHandler is ever added) mask secrets too: headers, POST fields,
# local variables, query strings.
DEFAULT_EXCEPTION_REPORTER = "secdesk.logging.SecretsExceptionReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "secdesk.logging.SecretsExceptionReporterFilter"

# Prometheus /metrics (secdesk/metrics.py) answers only `Authorization: Bearer <METRICS_TOKEN>`; unset: 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# Production hardening: on unless DEBUG.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = not DEBUG and env.bool("SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = not DEBUG and env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = 0 if DEBUG else env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# --- Content-Security-Policy (django-csp) ---------------------------------------------------------------------------
# Everything the pages load comes from our own origin (htmx is vendored in static/). Scripts: our files only, no
# inline script and no eval (base.html turns htmx's allowEval off; no template uses hx-on or js: values).
# Style attributes are allowed inline because templates set them, some with per-business values (the brand colour
# as style="--brand: ...", the intake header's colours); <style> elements are not (no template has one), and CSS
# cannot run script. Images come from our own /media/ routes (logos, caller media); no page uses a data: image.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],  # the fallback for browsers without the two below
        "style-src-elem": [SELF],  # stylesheets from us only: no <style> element
        "style-src-attr": [UNSAFE_INLINE],  # style="" attributes
        "img-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# --- end of Content-Security-Policy -------------------------------------------------------------------------------
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

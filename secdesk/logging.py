"""Logging for every process (gunicorn, Celery worker and beat, manage.py): one JSON object a line in production,
a request id on every line of a web request, the task name and id on every line of a Celery task, and secrets
masked before any handler writes them. Error pages (and error e-mails, should someone add Django's
AdminEmailHandler: none is configured) get the same masking through `SecretsExceptionReporterFilter`
(settings.DEFAULT_EXCEPTION_REPORTER_FILTER).

Nothing here needs configured settings at import: gunicorn's master process loads the formatter before Django is set
up (the configured secrets are read when the first record is masked).
"""

import contextvars
import datetime as dt
import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any

from celery import current_task
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter
from gunicorn.glogging import Logger as GunicornBaseLogger
from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

MASK = "********"

# Names of fields, headers, settings and variables whose values are secret wherever they appear: carrier auth
# tokens, API keys, webhook signing secrets, passwords, session and CSRF cookies, signatures, connection URLs.
SENSITIVE_NAME = re.compile(
    r"api[_-]?key|auth|token|secret|passw|pwd|signature|cookie|csrf|session|credential|private|"
    r"database_url|broker_url|redis_url|cache_url|email_url|dsn",
    re.IGNORECASE,
)

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # "Authorization: Bearer sd_..." / "Basic dXNlcjpwYXNz" wherever a scheme precedes a credential (capitalised
    # and 12+ characters, so prose such as "basic checks" stays readable)
    (re.compile(r"\b(Bearer|bearer|Basic|Token|Digest)\s+[A-Za-z0-9._~+/=:-]{12,}"), rf"\1 {MASK}"),
    # our REST API keys (tenants.models.ApiKey.new_secret) and webhook signing secrets (integrations.services)
    (re.compile(r"\b(sd|whsec)_[A-Za-z0-9_-]{16,}"), rf"\1_{MASK}"),
    # user:password@ in any URL (DATABASE_URL, REDIS_URL, broker URLs in connection errors)
    (
        re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@", re.IGNORECASE),
        rf"\g<scheme>\g<user>:{MASK}@",
    ),
    # a Slack incoming-webhook URL is itself the secret
    (re.compile(r"(hooks\.slack\.com/services/)\S+"), rf"\1{MASK}"),
    # key=value, key: value, "key": "value" where the key names a secret (auth_token=..., X-Twilio-Signature: ...,
    # Cookie: sessionid=...; csrftoken=..., password=...)
    (
        re.compile(
            r"(?P<key>[\"']?[\w-]*(?:api[_-]?key|auth[_-]?token|token|secret|passw(?:or)?d|pwd|signature|"
            r"authorization|cookie|sessionid|csrftoken)[\w-]*[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\s\"',;&}]+)",
            re.IGNORECASE,
        ),
        rf"\g<key>{MASK}",
    ),
    # a bare 32-hex-digit string is what a Twilio auth token looks like (SIDs carry a two-letter prefix, so
    # \b keeps them readable)
    (re.compile(r"\b[0-9a-fA-F]{32}\b"), MASK),
]


def _configured_secrets() -> list[str]:
    """Secret values from settings, masked literally wherever they show up (they may have any shape)."""
    try:
        from django.conf import settings

        values = [
            settings.SECRET_KEY,
            settings.TWILIO_AUTH_TOKEN,
            settings.FIELD_ENCRYPTION_KEY,
            settings.METRICS_TOKEN,
            settings.DATABASES["default"].get("PASSWORD", ""),
        ]
    except Exception:  # settings not configured (gunicorn master): patterns alone
        return []
    return [v for v in values if isinstance(v, str) and len(v) >= 8]


def redact_text(text: str) -> str:
    """`text` with every secret-looking substring replaced by a mask."""
    for secret in _configured_secrets():
        text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(name: str, value: Any) -> Any:
    """A log field's value made safe: masked outright when its name says it is secret, otherwise strings are
    scanned and containers walked (a headers dict keeps its harmless entries readable)."""
    if name and SENSITIVE_NAME.search(name):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [redact_value("", v) for v in value]
    if isinstance(value, int | float) or value is None:
        return value
    return redact_text(str(value))


# Attributes every LogRecord has; anything else on a record came from `extra=` and is a field to redact. The
# context fields are ids we set (nginx's $request_id is 32 hex digits, the shape of a Twilio token).
_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_CONTEXT_FIELDS = frozenset({"request_id", "task_id", "task_name"})


class RedactSecretsFilter(logging.Filter):
    """Masks secrets in the message, its arguments, `extra=` fields and the formatted traceback of every record a
    handler sees. Installed on every handler (not logger), so records propagated from any library pass it too."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not raise into the code that logged (logging itself wouldn't)
            message = f"{record.msg} (unformattable arguments)"
        record.msg = redact_text(message)
        record.args = None
        for name in record.__dict__.keys() - _RECORD_ATTRS - _CONTEXT_FIELDS:
            setattr(record, name, redact_value(name, record.__dict__[name]))
        if record.exc_info:
            # Format the traceback once, masked; formatters print exc_text when exc_info is gone.
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


# The request id of the web request being served, read by ContextFilter for every log line it produces.
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# What a client or proxy may send as X-Request-ID: short, printable, no spaces (it is echoed into a header and logs).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$")


class ContextFilter(logging.Filter):
    """Adds `request_id` (inside a web request) and `task_name`/`task_id` (inside a Celery task) to a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Django logs 4xx/5xx responses after the middleware has returned, with the request as an extra.
        request_id = request_id_var.get() or getattr(getattr(record, "request", None), "request_id", None)
        if request_id and not hasattr(record, "request_id"):
            record.request_id = request_id
        if current_task and current_task.request.id and not hasattr(record, "task_id"):
            record.task_name = current_task.name
            record.task_id = current_task.request.id
        return True


class RequestIdMiddleware:
    """Gives each request an id: the incoming X-Request-ID when well-formed (so a proxy's id follows the request
    through), otherwise a new UUID. It is on every log line of the request and echoed as a response header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else str(uuid.uuid4())
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class JsonFormatter(BaseJsonFormatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, then any extra fields."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", *args, **kwargs)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds")


class GunicornLogger(GunicornBaseLogger):
    """Gunicorn's logger with the access log as fields (method, path, status, duration, request id) instead of
    one Apache-style string, so the JSON formatter writes them as keys. Used by deploy/gunicorn.conf.py."""

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        fields = {
            "remote_addr": environ.get("REMOTE_ADDR", "-"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "status": resp.status_code,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "user_agent": environ.get("HTTP_USER_AGENT", "-"),
        }
        request_id = next((value for name, value in resp.headers if name.lower() == "x-request-id"), None)
        if request_id is not None:
            fields["request_id"] = request_id
        self.access_log.info("%s %s %s", fields["method"], fields["path"], fields["status"], extra=fields)


def logging_config_from_env(env) -> dict:
    """logging_config as LOG_FORMAT (default: plain with DEBUG on, JSON otherwise) and LOG_LEVEL ask: for
    settings.LOGGING and gunicorn's logconfig_dict alike."""
    log_format = env.str("LOG_FORMAT", default="plain" if env.bool("DEBUG", default=False) else "json")
    return logging_config(log_format=log_format, level=env.str("LOG_LEVEL", default="INFO"))


def logging_config(*, log_format: str, level: str) -> dict:
    """The dictConfig for every process: settings.LOGGING and gunicorn's logconfig_dict both come from here, so
    gunicorn's own loggers and Django's write the same lines through the same filters."""
    handler = {
        "class": "logging.StreamHandler",
        "formatter": log_format,
        "filters": ["context", "redact"],
    }
    # Django's default config and gunicorn give these loggers handlers of their own, without our filters: none here,
    # so their records go up to the root's handler like everyone else's (and pytest's caplog still sees them).
    own = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "json": {"()": "secdesk.logging.JsonFormatter"},
        },
        "filters": {
            "context": {"()": "secdesk.logging.ContextFilter"},
            "redact": {"()": "secdesk.logging.RedactSecretsFilter"},
        },
        "handlers": {"console": handler},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django": {**own, "level": level},
            "django.server": {**own, "level": level},
            "gunicorn.error": {**own, "level": level},
            "gunicorn.access": {**own, "level": "INFO"},
            "django.db.backends": {"level": "WARNING"},
            # The twilio client logs every request's headers at INFO; keep carrier traffic out of the logs.
            "twilio.http_client": {"level": "WARNING"},
        },
    }


class SecretsExceptionReporterFilter(SafeExceptionReporterFilter):
    """Error pages (DEBUG) and error e-mails without secrets: Django's filter hides settings and META keys by name
    but only hides POST fields and local variables that a view marked sensitive. This one is always active and
    hides, by name, POST fields, local variables and dict keys (auth_token, secret, api_key, password, ...),
    request headers such as Authorization, X-Twilio-Signature and Cookie, and connection URLs in settings; string
    values are scanned for secret-looking text too."""

    cleansed_substitute = MASK
    hidden_settings = re.compile(SENSITIVE_NAME.pattern + r"|API|KEY|PASS|HTTP_COOKIE|DATABASES|CACHES", re.I)

    def is_active(self, request) -> bool:
        return True

    def cleanse_setting(self, key, value):
        cleansed = super().cleanse_setting(key, value)
        return redact_text(cleansed) if isinstance(cleansed, str) else cleansed

    def get_post_parameters(self, request):
        return self._mask_by_name(super().get_post_parameters(request))

    def get_cleansed_multivaluedict(self, request, multivaluedict):
        return self._mask_by_name(super().get_cleansed_multivaluedict(request, multivaluedict))

    def _mask_by_name(self, params):
        """What Django's filter left (it honours @sensitive_post_parameters, bare or named), with every field
        whose name says it is secret masked too."""
        if not params:
            return params
        cleansed = params.copy()
        for key in cleansed:
            if SENSITIVE_NAME.search(key):
                cleansed[key] = self.cleansed_substitute
        return cleansed

    def get_traceback_frame_variables(self, request, tb_frame):
        cleansed = []
        for name, value in super().get_traceback_frame_variables(request, tb_frame):
            if SENSITIVE_NAME.search(name):
                value = self.cleansed_substitute
            elif isinstance(value, dict):
                value = self.cleanse_setting(name, value)
            elif isinstance(value, str):
                value = redact_text(value)
            else:
                value = _masked_repr(value)
            cleansed.append((name, value))
        return cleansed


class _Repr:
    """Stands in for a frame variable whose repr held a secret; the error page prints its masked repr instead."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _masked_repr(value: Any) -> Any:
    """`value` itself, or a stand-in when its repr shows a secret (a request's repr includes its query string)."""
    try:
        text = repr(value)
    except Exception:  # the page prints its own "error in formatting" for these
        return value
    masked = redact_text(text)
    return value if masked == text else _Repr(masked)


class SecretsExceptionReporter(ExceptionReporter):
    """The error page and e-mail with the query string and the exception text masked as well (Django shows
    request.GET, the full URL and the exception message as they are)."""

    def get_traceback_data(self):
        data = super().get_traceback_data()
        if "request_GET_items" in data:
            data["request_GET_items"] = self.filter.get_cleansed_multivaluedict(self.request, self.request.GET).items()
        if "request_insecure_uri" in data:
            data["request_insecure_uri"] = redact_text(data["request_insecure_uri"])
        if isinstance(data.get("exception_value"), str):
            data["exception_value"] = redact_text(data["exception_value"])
        return data

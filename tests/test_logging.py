"""Structured logs and secret masking: what production writes (JSON lines with request and task context) and what
it must never write (carrier tokens, API keys, auth headers, passwords, webhook secrets), in logs and error pages."""

import io
import json
import logging
import logging.config
import runpy
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import RequestFactory
from django.views.debug import technical_500_response
from gunicorn.config import Config

from secdesk.celery import app
from secdesk.logging import JsonFormatter, RequestIdMiddleware, logging_config
from tenants.models import ApiKey

ROOT = Path(__file__).resolve().parent.parent

API_KEY = ApiKey.new_secret()[0]
TWILIO_AUTH_TOKEN = "f3a9c2d17b4e4c0a9e8d6b5a4c3d2e1f"  # Twilio's shape: 32 hex digits
TWILIO_SIGNATURE = "Yz3fQ9m2Kx7pL0aB1cD2eF3gH4iJ="
WEBHOOK_SECRET = "whsec_" + "Q" * 43
PASSWORD = "correct-horse-battery"
SESSION_ID = "sessabc123sessabc123sessabc123zz"
DB_PASSWORD = "pgs3cretpass"
SECRETS = [API_KEY, TWILIO_AUTH_TOKEN, TWILIO_SIGNATURE, WEBHOOK_SECRET, PASSWORD, SESSION_ID, DB_PASSWORD]


@pytest.fixture
def json_lines():
    """The production logging config (JSON, filters and all) writing into a buffer; returns a reader of the
    parsed lines. The test settings' config is restored afterwards."""
    buffer = io.StringIO()
    config = logging_config(log_format="json", level="INFO")
    config["handlers"]["console"]["stream"] = buffer
    logging.config.dictConfig(config)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    logging.config.dictConfig(settings.LOGGING)


def test_every_handler_masks_secrets_and_adds_context():
    for log_format in ("json", "plain"):
        config = logging_config(log_format=log_format, level="INFO")
        for handler in config["handlers"].values():
            assert handler["filters"] == ["context", "redact"]
            assert handler["formatter"] == log_format


def test_log_format_defaults_to_plain_in_development():
    # secdesk/test_settings.py sets DEBUG=1 before the settings load
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "plain"


def test_json_line_has_time_level_logger_message_and_extras(json_lines):
    logging.getLogger("secdesk.test").warning("text-back for call %s queued", "CA123", extra={"message_id": 42})

    [line] = json_lines()
    assert line["level"] == "WARNING"
    assert line["logger"] == "secdesk.test"
    assert line["message"] == "text-back for call CA123 queued"
    assert line["message_id"] == 42
    assert line["time"].endswith("+00:00") and "T" in line["time"]


def test_a_bad_format_string_never_raises_into_the_caller(json_lines):
    logging.getLogger("secdesk.test").warning("two values %s %s for token %s", "only-one")

    [line] = json_lines()
    assert "unformattable" in line["message"] and line["level"] == "WARNING"


def test_no_secret_reaches_a_log_line(json_lines):
    log = logging.getLogger("secdesk.test")
    log.info("API request with Authorization: Bearer %s", API_KEY)
    log.info("headers %s", {"X-Twilio-Signature": TWILIO_SIGNATURE, "Cookie": f"sessionid={SESSION_ID}; x=1"})
    log.info("carrier login AC0123456789abcdef0123456789abcdef / %s", TWILIO_AUTH_TOKEN)
    log.info("login failed", extra={"password": PASSWORD, "form": {"email": "o@acme.test", "password": PASSWORD}})
    log.info("endpoint created", extra={"secret": WEBHOOK_SECRET})
    log.info("endpoint %s", {"url": "https://crm.example/hook", "signing": WEBHOOK_SECRET})
    log.info("broker down: redis://:%s@redis:6379/0 and postgres://secdesk:%s@db/secdesk", DB_PASSWORD, DB_PASSWORD)
    log.info("request", extra={"headers": {"Authorization": f"Basic {API_KEY}", "Accept": "text/html"}})
    log.info("twilio params auth_token=%s&To=%%2B1415", TWILIO_AUTH_TOKEN)
    try:
        raise ValueError(f"carrier refused token {TWILIO_AUTH_TOKEN} for key {API_KEY}")
    except ValueError:
        log.exception("send failed")

    lines = json_lines()
    output = "\n".join(json.dumps(line) for line in lines)
    for secret in SECRETS:
        assert secret not in output, secret
    # what is not secret stays readable, so the lines are still useful
    assert "AC0123456789abcdef0123456789abcdef" in output  # an Account SID is an identifier
    assert lines[7]["headers"]["Accept"] == "text/html"
    assert lines[3]["form"]["email"] == "o@acme.test"
    assert "ValueError: carrier refused token" in lines[-1]["exc_info"]


def test_configured_secrets_are_masked_whatever_their_shape(json_lines, settings):
    settings.TWILIO_AUTH_TOKEN = "platform-token-of-any-shape"
    settings.SECRET_KEY = "django-secret-key-of-any-shape"
    logging.getLogger("secdesk.test").info("config %s %s", settings.TWILIO_AUTH_TOKEN, settings.SECRET_KEY)

    [line] = json_lines()
    assert "any-shape" not in line["message"]


@pytest.mark.django_db
def test_request_id_is_echoed_and_on_every_line_of_the_request(json_lines, client):
    response = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a9c2d-0001"})
    assert response["X-Request-ID"] == "lb-7f3a9c2d-0001"

    def view(request):
        logging.getLogger("secdesk.test").info("inside the view")
        return HttpResponse("ok")

    request = RequestFactory().get("/x", headers={"X-Request-ID": "lb-7f3a9c2d-0002"})
    RequestIdMiddleware(view)(request)
    logging.getLogger("secdesk.test").info("after the request")

    lines = json_lines()
    assert lines[-2]["message"] == "inside the view" and lines[-2]["request_id"] == "lb-7f3a9c2d-0002"
    assert lines[-1]["message"] == "after the request" and "request_id" not in lines[-1]


@pytest.mark.django_db
def test_a_hex_request_id_from_nginx_is_kept_in_logs(json_lines, client):
    """nginx's $request_id is 32 hex digits, the shape of a Twilio auth token: it is our own id, not masked."""
    request_id = uuid.uuid4().hex
    client.get("/no-such-page", headers={"X-Request-ID": request_id})

    [line] = [line for line in json_lines() if line["logger"] == "django.request"]
    assert line["request_id"] == request_id


@pytest.mark.django_db
@pytest.mark.parametrize("incoming", ["", "short", "has space in it", "x" * 200, "evil\r\nSet-Cookie: a=b"])
def test_a_malformed_request_id_is_replaced(client, incoming):
    response = client.get("/healthz", headers={"X-Request-ID": incoming} if incoming else {})
    assert response["X-Request-ID"] != incoming
    assert uuid.UUID(response["X-Request-ID"])


@pytest.mark.django_db
def test_an_error_response_logged_by_django_carries_the_request_id(json_lines, client):
    client.get("/no-such-page", headers={"X-Request-ID": "lb-7f3a9c2d-0404"})

    [line] = [line for line in json_lines() if line["logger"] == "django.request"]
    assert line["message"] == "Not Found: /no-such-page"
    assert line["request_id"] == "lb-7f3a9c2d-0404"


@app.task(name="tests.test_logging.log_in_task")
def log_in_task() -> None:
    logging.getLogger("secdesk.test").info("inside a task")


def test_task_lines_carry_task_name_and_id(json_lines):
    result = log_in_task.apply(task_id="task-1234")

    assert result.successful()
    [line] = [line for line in json_lines() if line["message"] == "inside a task"]
    assert line["task_name"] == "tests.test_logging.log_in_task"
    assert line["task_id"] == "task-1234"


def test_gunicorn_access_log_is_json_with_request_fields(monkeypatch):
    """deploy/gunicorn.conf.py loaded the way gunicorn loads it: its logger writes access lines as JSON keys."""
    monkeypatch.setenv("LOG_FORMAT", "json")
    cfg = Config()
    for name, value in runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py")).items():
        if name in cfg.settings:
            cfg.set(name, value)
    try:
        logger = cfg.logger_class(cfg)
        buffer = io.StringIO()
        [handler] = [h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)]
        handler.setStream(buffer)
        response = SimpleNamespace(status="201 Created", status_code=201, headers=[("X-Request-ID", "lb-1")], sent=12)
        environ = {
            "REMOTE_ADDR": "10.0.0.5",
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/webhooks/twilio/voice/",
            "QUERY_STRING": f"api_key={API_KEY}",
            "HTTP_USER_AGENT": "TwilioProxy/1.1",
        }
        logger.access(response, SimpleNamespace(headers=[]), environ, SimpleNamespace(total_seconds=lambda: 0.0123))
    finally:
        logging.config.dictConfig(settings.LOGGING)

    line = json.loads(buffer.getvalue())
    assert line["logger"] == "gunicorn.access"
    assert line["message"] == "POST /webhooks/twilio/voice/ 201"
    assert (line["method"], line["path"], line["status"], line["bytes"]) == ("POST", "/webhooks/twilio/voice/", 201, 12)
    assert (line["duration_ms"], line["request_id"], line["remote_addr"]) == (12.3, "lb-1", "10.0.0.5")
    assert API_KEY not in buffer.getvalue()


def _view_that_fails(request):
    auth_token = TWILIO_AUTH_TOKEN  # a local named like a secret
    headers = {"Authorization": f"Bearer {API_KEY}", "Accept": "*/*"}
    raise RuntimeError(f"carrier said no ({len(auth_token)}, {len(headers)})")


def test_technical_500_page_shows_no_secret(settings):
    settings.EXAMPLE_REPLICA = {"NAME": "secdesk", "PASSWORD": DB_PASSWORD}
    settings.EXAMPLE_SERVICE = f"postgres://secdesk:{DB_PASSWORD}@replica/secdesk"
    settings.CELERY_BROKER_URL = f"redis://:{DB_PASSWORD}@redis:6379/0"
    request = RequestFactory().post(
        f"/webhooks/twilio/sms/?api_key={API_KEY}",
        data={"Body": "hello", "auth_token": TWILIO_AUTH_TOKEN, "secret": WEBHOOK_SECRET, "password": PASSWORD},
        headers={
            "Authorization": f"Bearer {API_KEY}",
            "X-Twilio-Signature": TWILIO_SIGNATURE,
            "Cookie": f"sessionid={SESSION_ID}",
        },
    )
    try:
        _view_that_fails(request)
    except RuntimeError:
        response = technical_500_response(request, *sys.exc_info())

    page = response.content.decode()
    assert "carrier said no" in page and "hello" in page  # the page is the real report
    for secret in SECRETS:
        assert secret not in page, secret


def test_error_email_text_shows_no_secret():
    """The plain-text report (what AdminEmailHandler mails) goes through the same reporter and filter."""
    from django.views.debug import get_exception_reporter_class

    request = RequestFactory().get(
        "/api/v1/calls/", headers={"Authorization": f"Bearer {API_KEY}", "Cookie": f"sessionid={SESSION_ID}"}
    )
    try:
        _view_that_fails(request)
    except RuntimeError:
        text = get_exception_reporter_class(request)(request, *sys.exc_info(), is_email=True).get_traceback_text()

    assert "carrier said no" in text
    for secret in (API_KEY, TWILIO_AUTH_TOKEN, SESSION_ID):
        assert secret not in text, secret


def test_a_view_marking_every_field_sensitive_keeps_them_all_hidden():
    """A bare @sensitive_post_parameters() (Django's login views) hides every field, not only secret-looking ones;
    without it, only the secret-looking ones are hidden."""
    from secdesk.logging import MASK, SecretsExceptionReporterFilter

    request = RequestFactory().post("/accounts/login/", data={"username": "ann@acme.test", "secret": "x"})
    assert dict(SecretsExceptionReporterFilter().get_post_parameters(request).items()) == {
        "username": "ann@acme.test",
        "secret": MASK,
    }
    request.sensitive_post_parameters = "__ALL__"
    assert dict(SecretsExceptionReporterFilter().get_post_parameters(request).items()) == {
        "username": MASK,
        "secret": MASK,
    }

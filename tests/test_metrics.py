"""/metrics: off unless a token is set, refused without it, and the figures (queue depth, outbound work, sweeper
lag, text-back latency, carrier errors, webhook health) right for rows of two businesses, in a constant number of
queries, with no tenant data in the output."""

import datetime as dt
import uuid

import pytest
import redis
from django.db import OperationalError
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from inbox.models import Timer
from integrations.models import WebhookDelivery, WebhookEndpoint
from messaging.models import Message, TextbackSettings
from secdesk import metrics
from tests.factories import BusinessFactory, ConversationFactory, OutboundMessageFactory, PhoneNumberFactory

TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN


def scrape(client) -> dict[tuple[str, tuple], float]:
    """The exposition parsed into {(sample name, sorted labels): value}."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def ago(seconds: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=seconds)


def backdate(message: Message, *, created: float, **fields: float) -> None:
    """Set a message's created_at (auto_now_add on insert) and other timestamps to `seconds` ago."""
    Message.objects.filter(pk=message.pk).update(
        created_at=ago(created), **{name: ago(seconds) for name, seconds in fields.items()}
    )


def percentile_cont(values: list[float], q: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@pytest.mark.django_db
def test_off_by_default(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    "authorization",
    [None, "", f"Basic {TOKEN}", "Bearer wrong-token", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", TOKEN],
)
def test_refused_without_the_token(client, metrics_on, authorization):
    response = client.get("/metrics", headers={"Authorization": authorization} if authorization is not None else {})
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"secdesk_" not in response.content


@pytest.mark.django_db
def test_an_empty_system_scrapes_zeroes(client, metrics_on):
    figures = scrape(client)
    assert figures[("secdesk_database_up", ())] == 1
    for status in ("queued", "sending", "unknown"):
        assert figures[("secdesk_outbound_messages", (("status", status),))] == 0
    for sweeper in ("outbound", "timers", "webhooks"):
        assert figures[("secdesk_sweeper_lag_seconds", (("sweeper", sweeper),))] == 0
    assert figures[("secdesk_textback_count", ())] == 0
    assert not [key for key in figures if key[0] == "secdesk_textback_latency_seconds"]  # no quantile of nothing
    assert figures[("secdesk_outbound_recent", (("window", "5m"),))] == 0


def _two_businesses_of_rows():
    """Rows of every kind the figures count, spread over two businesses (A without and B with a text-back delay).
    Returns the text-back latencies (seconds) the figures should summarise."""
    number_a, number_b = PhoneNumberFactory(), PhoneNumberFactory()
    TextbackSettings.objects.create(
        business=number_b.business, open_template="Hi", closed_template="Hi", delay_seconds=30
    )
    # in flight: 2 queued (one due 40 s ago, one not due yet), 1 sending, 1 unknown
    backdate(OutboundMessageFactory(phone_number=number_a), created=45, next_attempt_at=40)
    OutboundMessageFactory(phone_number=number_b, next_attempt_at=timezone.now() + dt.timedelta(hours=1))
    OutboundMessageFactory(phone_number=number_b, status="sending", sending_at=timezone.now(), next_attempt_at=None)
    OutboundMessageFactory(phone_number=number_a, status="unknown")
    # text-backs handed to the carrier in the last 5 minutes: created -> sending_at, less B's 30 s delay
    latencies = []
    for number, created, sending, delay in [
        (number_a, 100, 99.9, 0),
        (number_a, 60, 59.8, 0),
        (number_a, 30, 29.5, 0),
        (number_b, 200, 169.4, 30),
        (number_b, 50, 19.0, 30),
    ]:
        message = OutboundMessageFactory(phone_number=number, kind="textback", status="delivered")
        backdate(message, created=created, sending_at=sending)
        latencies.append(created - sending - delay)
    # not counted: a text-back older than the window, a reply, and an inbound text
    backdate(OutboundMessageFactory(phone_number=number_a, kind="textback", status="sent"), created=400, sending_at=399)
    backdate(OutboundMessageFactory(phone_number=number_a, status="sent"), created=20, sending_at=10)
    Message.objects.create(
        business=number_a.business,
        direction="in",
        kind="inbound",
        from_number="+14158675309",
        to_number=number_a.e164,
        body="Is anyone there?",
        status="received",
        provider="twilio",
    )
    # carrier errors: 30003 in both businesses within 5 minutes, 30007 ten minutes ago, 21610 twenty minutes ago
    for number in (number_a, number_b):
        backdate(
            OutboundMessageFactory(phone_number=number, status="undelivered", error_code="30003"),
            created=60,
            failed_at=30,
        )
    backdate(OutboundMessageFactory(phone_number=number_b, status="failed", error_code="30007"), created=600)
    backdate(OutboundMessageFactory(phone_number=number_b, status="failed", error_code="21610"), created=1200)
    # a timer due a minute ago and one due tomorrow
    for number, due in ((number_a, ago(60)), (number_b, timezone.now() + dt.timedelta(days=1))):
        conversation = ConversationFactory(contact__business=number.business)
        Timer.objects.create(business=number.business, conversation=conversation, kind="follow_up", due_at=due)
    # webhooks: B's receiver is failing (retrying, due 90 s ago); A has one given up and one delivered
    endpoint_a = WebhookEndpoint.objects.create(business=number_a.business, url="https://crm-a.example/hook")
    endpoint_b = WebhookEndpoint.objects.create(business=number_b.business, url="https://crm-b.example/hook")
    delivery = {"event_type": "message.failed", "payload": {}, "give_up_at": timezone.now() + dt.timedelta(days=1)}
    WebhookDelivery.objects.create(
        business=number_b.business, endpoint=endpoint_b, attempts=2, next_attempt_at=ago(90), **delivery
    )
    WebhookDelivery.objects.create(
        business=number_b.business,
        endpoint=endpoint_b,
        next_attempt_at=timezone.now() + dt.timedelta(minutes=5),
        **delivery,
    )
    WebhookDelivery.objects.create(
        business=number_a.business, endpoint=endpoint_a, status="failed", failed_at=timezone.now(), **delivery
    )
    WebhookDelivery.objects.create(business=number_a.business, endpoint=endpoint_a, status="delivered", **delivery)
    return latencies


@pytest.mark.django_db
def test_figures_count_every_business(client, metrics_on):
    latencies = _two_businesses_of_rows()

    figures = scrape(client)

    def value(name, **labels):
        return figures[(name, tuple(sorted(labels.items())))]

    assert value("secdesk_outbound_messages", status="queued") == 2
    assert value("secdesk_outbound_messages", status="sending") == 1
    assert value("secdesk_outbound_messages", status="unknown") == 1
    assert value("secdesk_sweeper_lag_seconds", sweeper="outbound") == pytest.approx(40, abs=5)
    assert value("secdesk_sweeper_lag_seconds", sweeper="timers") == pytest.approx(60, abs=5)
    assert value("secdesk_sweeper_lag_seconds", sweeper="webhooks") == pytest.approx(90, abs=5)

    assert value("secdesk_textback_count") == 5
    for quantile in (0.5, 0.95, 0.99):
        expected = percentile_cont(latencies, quantile)
        assert value("secdesk_textback_latency_seconds", quantile=str(quantile)) == pytest.approx(expected, abs=0.01)

    # 5 m: 4 in flight + 5 text-backs + 1 reply + 2 undelivered; 15 m adds the 30007 failure (and the text-back
    # created 400 s ago); the 21610 failure is older than both windows
    assert value("secdesk_outbound_recent", window="5m") == 12
    assert value("secdesk_outbound_recent", window="15m") == 14
    assert value("secdesk_outbound_failures_recent", window="5m", status="undelivered", error_code="30003") == 2
    assert value("secdesk_outbound_failures_recent", window="15m", status="undelivered", error_code="30003") == 2
    assert value("secdesk_outbound_failures_recent", window="15m", status="failed", error_code="30007") == 1
    assert (
        "secdesk_outbound_failures_recent",
        (("error_code", "30007"), ("status", "failed"), ("window", "5m")),
    ) not in figures
    assert not [key for key in figures if ("error_code", "21610") in key[1]]

    assert value("secdesk_webhook_deliveries", status="pending") == 2
    assert value("secdesk_webhook_deliveries", status="retrying") == 1
    assert value("secdesk_webhook_deliveries", status="sending") == 0
    assert value("secdesk_webhook_deliveries_failed_recent") == 1


@pytest.mark.django_db
def test_no_tenant_data_in_the_output(client, metrics_on):
    _two_businesses_of_rows()
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    text = response.content.decode()

    for message in Message.objects.select_related("business"):
        for private in (message.body, message.to_number, message.from_number, message.business.name):
            assert private not in text
        assert f'"{message.business.slug}"' not in text and f"={message.business_id}" not in text
    assert "crm-a.example" not in text


@pytest.mark.django_db
def test_query_count_is_constant(client, metrics_on, django_assert_num_queries):
    with django_assert_num_queries(5):
        scrape(client)
    _two_businesses_of_rows()
    for _ in range(5):
        backdate(OutboundMessageFactory(phone_number=PhoneNumberFactory(business=BusinessFactory())), created=10)
    with django_assert_num_queries(5):
        scrape(client)


@pytest.mark.django_db
def test_queue_length_reads_the_broker(client, metrics_on, settings):
    """Celery's Redis transport: one list per queue, plus one per priority step; keys carry the global prefix."""
    prefix = f"secdesk-metrics-test-{uuid.uuid4().hex[:8]}:"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": prefix}
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    keys = [f"{prefix}textback", f"{prefix}textback\x06\x163", f"{prefix}default"]
    try:
        broker.rpush(keys[0], "a", "b", "c")
        broker.rpush(keys[1], "d")
        broker.rpush(keys[2], "e", "f")
        figures = scrape(client)
    finally:
        broker.delete(*keys)

    assert figures[("secdesk_redis_up", ())] == 1
    assert figures[("secdesk_broker_up", ())] == 1
    assert figures[("secdesk_celery_queue_length", (("queue", "textback"),))] == 4
    assert figures[("secdesk_celery_queue_length", (("queue", "default"),))] == 2


@pytest.mark.django_db
def test_a_down_redis_is_a_figure_not_an_error(client, metrics_on, settings):
    settings.REDIS_URL = settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    figures = scrape(client)

    assert figures[("secdesk_redis_up", ())] == 0
    assert figures[("secdesk_broker_up", ())] == 0
    assert not [key for key in figures if key[0] == "secdesk_celery_queue_length"]
    assert figures[("secdesk_database_up", ())] == 1  # the database figures are still there
    assert ("secdesk_outbound_messages", (("status", "queued"),)) in figures


@pytest.mark.django_db
def test_a_rabbitmq_broker_leaves_queue_length_to_its_exporter(client, metrics_on, settings):
    settings.CELERY_BROKER_URL = "amqp://guest:guest@rabbitmq:5672//"

    figures = scrape(client)

    assert figures[("secdesk_redis_up", ())] == 1
    assert not [key for key in figures if key[0] in ("secdesk_broker_up", "secdesk_celery_queue_length")]


@pytest.mark.django_db
def test_a_database_failure_is_a_figure_not_an_error(client, metrics_on, monkeypatch):
    def database_down(now):
        raise OperationalError("connection refused")

    monkeypatch.setattr(metrics, "_database_figures", database_down)

    figures = scrape(client)

    assert figures[("secdesk_database_up", ())] == 0
    assert not [key for key in figures if key[0] == "secdesk_outbound_messages"]
    assert figures[("secdesk_redis_up", ())] == 1

"""Prometheus `/metrics`: the figures an operator watches (docs/deployment.md, "What to monitor").

Everything is computed when Prometheus scrapes, from PostgreSQL and the broker, never from per-process counters:
gunicorn runs several processes and any one of them may answer a scrape, so only shared state gives one true
answer. These are system figures across all businesses; no label carries tenant data (no business, number or
text), only statuses, error codes and queue names.

Each query is bounded: counts of in-flight rows read a partial index and stop at COUNT_CAP; the time-windowed
figures walk each business's (business, created_at) index over the window only (one LATERAL probe per
business, so the cost follows the window's rows, not the table; `OFFSET 0` keeps PostgreSQL from flattening a
probe into one join over the whole table); the sweeper-lag figures read the first entry of the sweepers' own
partial indexes.
"""

import datetime as dt
import hmac

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu.transport.redis import PRIORITY_STEPS
from kombu.transport.redis import Channel as KombuRedisChannel
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from inbox.models import Timer
from integrations.models import WebhookDelivery, WebhookEndpoint
from messaging.models import Message, TextbackSettings
from tenants.models import Business

QUEUES = ("textback", "default")
# kombu's Redis transport keeps a queue's messages of each priority step in a key of its own beside the plain one.
_KOMBU_PRIORITY_SUFFIXES = tuple(f"{KombuRedisChannel.sep}{step}" if step else "" for step in PRIORITY_STEPS)
COUNT_CAP = 100_000
FIVE_MINUTES = dt.timedelta(minutes=5)  # the latency window and the short error window
FIFTEEN_MINUTES = dt.timedelta(minutes=15)
QUANTILES = (0.5, 0.95, 0.99)
REDIS_TIMEOUT_SECONDS = 0.5

_M = Message._meta.db_table
_B = Business._meta.db_table

# Outbound rows waiting for or in the middle of a carrier request. queued/unknown read message_due_idx, sending
# reads message_sending_idx (both partial, so small).
_IN_FLIGHT_SQL = f"""
SELECT 'queued', count(*) FROM (SELECT 1 FROM {_M} WHERE status = 'queued' LIMIT %(cap)s) q
UNION ALL SELECT 'unknown', count(*) FROM (SELECT 1 FROM {_M} WHERE status = 'unknown' LIMIT %(cap)s) u
UNION ALL SELECT 'sending', count(*) FROM (SELECT 1 FROM {_M} WHERE status = 'sending' LIMIT %(cap)s) s
"""  # noqa: S608 (table names from model meta, values bound)

# Age of the oldest due work each sweeper should have picked up; NULL when nothing is due.
_SWEEPER_LAG_SQL = f"""
SELECT
  (SELECT min(next_attempt_at) FROM {_M} WHERE status = 'queued' AND next_attempt_at <= %(now)s),
  (SELECT min(due_at) FROM {Timer._meta.db_table}
     WHERE fired_at IS NULL AND cancelled_at IS NULL AND due_at <= %(now)s),
  (SELECT min(next_attempt_at) FROM {WebhookDelivery._meta.db_table}
     WHERE status = 'pending' AND next_attempt_at <= %(now)s)
"""  # noqa: S608

# Text-back latency: row created -> worker issues the carrier request (sending_at), less the business's chosen
# delay, over text-backs created in the window.
_LATENCY_SQL = f"""
SELECT count(*), percentile_cont(%(quantiles)s::float8[]) WITHIN GROUP (ORDER BY t.latency)
FROM {_B} b
LEFT JOIN {TextbackSettings._meta.db_table} ts ON ts.business_id = b.id
CROSS JOIN LATERAL (
  SELECT GREATEST(EXTRACT(EPOCH FROM m.sending_at - m.created_at) - COALESCE(ts.delay_seconds, 0), 0) AS latency
  FROM {_M} m
  WHERE m.business_id = b.id AND m.created_at >= %(since)s
    AND m.kind = 'textback' AND m.direction = 'out' AND m.sending_at IS NOT NULL
  OFFSET 0
) t
"""  # noqa: S608

# Outbound texts created in the widest error window, by outcome and error code, split by window.
_OUTCOMES_SQL = f"""
SELECT m.status, m.error_code, count(*) FILTER (WHERE m.created_at >= %(since_5m)s), count(*)
FROM {_B} b
CROSS JOIN LATERAL (
  SELECT status, error_code, created_at FROM {_M}
  WHERE business_id = b.id AND created_at >= %(since_15m)s AND direction = 'out'
  OFFSET 0
) m
GROUP BY m.status, m.error_code
"""  # noqa: S608

# Webhook deliveries: pending (and how many of those already failed at least once), in flight, and given up
# among the deliveries created in the window (one LATERAL probe per endpoint on webhook_delivery_log_idx).
_WEBHOOKS_SQL = f"""
SELECT
  (SELECT count(*) FROM (SELECT 1 FROM {WebhookDelivery._meta.db_table}
     WHERE status = 'pending' LIMIT %(cap)s) p),
  (SELECT count(*) FROM (SELECT 1 FROM {WebhookDelivery._meta.db_table}
     WHERE status = 'pending' AND attempts > 0 LIMIT %(cap)s) r),
  (SELECT count(*) FROM (SELECT 1 FROM {WebhookDelivery._meta.db_table}
     WHERE status = 'sending' LIMIT %(cap)s) s),
  (SELECT count(*) FROM {WebhookEndpoint._meta.db_table} e CROSS JOIN LATERAL (
     SELECT 1 FROM {WebhookDelivery._meta.db_table} d
     WHERE d.business_id = e.business_id AND d.endpoint_id = e.id AND d.created_at >= %(since_15m)s
       AND d.status = 'failed' OFFSET 0) f)
"""  # noqa: S608


def _gauge(name: str, documentation: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


def _redis_client(url: str) -> redis.Redis:
    """A short-lived client with short timeouts: a hung Redis must not hold a scrape (or a web thread) long."""
    return redis.Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS)


def _redis_figures() -> list[GaugeMetricFamily]:
    """Redis reachability and, when the broker is Redis, the length of each Celery queue. A down Redis is a
    figure (0), never a failed scrape."""
    redis_up = _gauge("secdesk_redis_up", "1 if Redis (REDIS_URL: cache, results, rate limits) answered a PING.")
    try:
        with _redis_client(settings.REDIS_URL) as client:
            redis_up.add_metric([], 1.0 if client.ping() else 0.0)
    except redis.RedisError:
        redis_up.add_metric([], 0.0)
    families = [redis_up]
    broker_url = settings.CELERY_BROKER_URL
    if not broker_url.startswith(("redis://", "rediss://", "unix://")):
        return families  # RabbitMQ: its own exporter reports queue depth (docs/deployment.md)
    broker_up = _gauge("secdesk_broker_up", "1 if the Celery broker (Redis) answered.")
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    try:
        with _redis_client(broker_url) as client:
            pipe = client.pipeline(transaction=False)
            for queue in QUEUES:
                for suffix in _KOMBU_PRIORITY_SUFFIXES:
                    pipe.llen(f"{prefix}{queue}{suffix}")
            lengths = pipe.execute()
    except redis.RedisError:
        broker_up.add_metric([], 0.0)
        return [*families, broker_up]
    broker_up.add_metric([], 1.0)
    depth = _gauge(
        "secdesk_celery_queue_length", "Tasks waiting in a Celery queue (not yet taken by a worker).", ("queue",)
    )
    step = len(_KOMBU_PRIORITY_SUFFIXES)
    for i, queue in enumerate(QUEUES):
        depth.add_metric([queue], float(sum(lengths[i * step : (i + 1) * step])))
    return [*families, broker_up, depth]


def _age_seconds(now: dt.datetime, oldest: dt.datetime | None) -> float:
    return max((now - oldest).total_seconds(), 0.0) if oldest else 0.0


def _database_figures(now: dt.datetime) -> list[GaugeMetricFamily]:
    """Outbound work, sweeper lag, text-back latency, carrier errors and webhook health: five queries, whatever
    the number of businesses or rows."""
    with connection.cursor() as cursor:
        cursor.execute(_IN_FLIGHT_SQL, {"cap": COUNT_CAP})
        in_flight = cursor.fetchall()
        cursor.execute(_SWEEPER_LAG_SQL, {"now": now})
        message_due, timer_due, webhook_due = cursor.fetchone()
        cursor.execute(_LATENCY_SQL, {"since": now - FIVE_MINUTES, "quantiles": list(QUANTILES)})
        latency_count, latency_quantiles = cursor.fetchone()
        cursor.execute(_OUTCOMES_SQL, {"since_5m": now - FIVE_MINUTES, "since_15m": now - FIFTEEN_MINUTES})
        outcomes = cursor.fetchall()
        cursor.execute(_WEBHOOKS_SQL, {"cap": COUNT_CAP, "since_15m": now - FIFTEEN_MINUTES})
        webhooks_pending, webhooks_retrying, webhooks_sending, webhooks_failed = cursor.fetchone()

    outbound = _gauge(
        "secdesk_outbound_messages",
        f"Outbound texts by status: queued (waiting for a worker), sending (carrier request in flight), unknown "
        f"(being reconciled with the carrier). Capped at {COUNT_CAP}.",
        ("status",),
    )
    for status, count in in_flight:
        outbound.add_metric([status], float(count))

    lag = _gauge(
        "secdesk_sweeper_lag_seconds",
        "Age of the oldest due work a sweeper has not picked up yet (0 when none is due).",
        ("sweeper",),
    )
    lag.add_metric(["outbound"], _age_seconds(now, message_due))
    lag.add_metric(["timers"], _age_seconds(now, timer_due))
    lag.add_metric(["webhooks"], _age_seconds(now, webhook_due))

    latency = _gauge(
        "secdesk_textback_latency_seconds",
        "Text-back latency over the last 5 minutes, by quantile: message row created to carrier request issued, "
        "less the business's configured delay.",
        ("quantile",),
    )
    if latency_quantiles:  # NULL when no text-back was created in the window
        for quantile, value in zip(QUANTILES, latency_quantiles, strict=True):
            latency.add_metric([str(quantile)], float(value))
    latency_total = _gauge("secdesk_textback_count", "Text-backs handed to the carrier, created in the last 5 minutes.")
    latency_total.add_metric([], float(latency_count))

    outbound_recent = _gauge(
        "secdesk_outbound_recent",
        "Outbound texts created in the window (the denominator of the error rate).",
        ("window",),
    )
    failures = _gauge(
        "secdesk_outbound_failures_recent",
        "Outbound texts created in the window that failed (never sent or refused) or were not delivered, by "
        "carrier or internal error code.",
        ("window", "status", "error_code"),
    )
    totals = {"5m": 0, "15m": 0}
    for status, error_code, count_5m, count_15m in outcomes:
        totals["5m"] += count_5m
        totals["15m"] += count_15m
        if status in (Message.Status.FAILED, Message.Status.UNDELIVERED):
            for window, count in (("5m", count_5m), ("15m", count_15m)):
                if count:
                    failures.add_metric([window, status, error_code or "none"], float(count))
    for window, total in totals.items():
        outbound_recent.add_metric([window], float(total))

    deliveries = _gauge(
        "secdesk_webhook_deliveries",
        f"Outbound webhook deliveries waiting (pending), in flight (sending), or pending after a failed attempt "
        f"(retrying). Capped at {COUNT_CAP}.",
        ("status",),
    )
    deliveries.add_metric(["pending"], float(webhooks_pending))
    deliveries.add_metric(["retrying"], float(webhooks_retrying))
    deliveries.add_metric(["sending"], float(webhooks_sending))
    failed = _gauge(
        "secdesk_webhook_deliveries_failed_recent",
        "Webhook deliveries created in the last 15 minutes that were given up (4xx or refused address).",
    )
    failed.add_metric([], float(webhooks_failed))
    return [outbound, lag, latency, latency_total, outbound_recent, failures, deliveries, failed]


class SecDeskCollector:
    """A prometheus_client collector that reads every figure afresh on each scrape."""

    def collect(self):
        now = timezone.now()
        database_up = _gauge("secdesk_database_up", "1 if PostgreSQL answered the metrics queries.")
        try:
            figures = _database_figures(now)
        except DatabaseError:
            figures = []
            database_up.add_metric([], 0.0)
        else:
            database_up.add_metric([], 1.0)
        yield database_up
        yield from figures
        yield from _redis_figures()


def render() -> bytes:
    """The Prometheus text exposition of every figure, computed now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SecDeskCollector())
    return generate_latest(registry)


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Off (404) unless METRICS_TOKEN is set; then only `Authorization: Bearer <METRICS_TOKEN>` is answered."""
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404
    scheme, _, provided = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(provided.strip().encode(), token.encode()):
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(render(), content_type=CONTENT_TYPE_LATEST)

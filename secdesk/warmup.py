"""Start-up warming for long-lived processes (gunicorn workers, Celery workers).

Django, Celery and the twilio package import most of their code lazily, on first use. Left alone, the first
webhook or send after a deploy or a worker restart pays for it: half a second to a second of CPU on a 2-core box,
while the callers of that second wait behind it. `warm_up` pays it at start-up instead, before the process takes
work: every first-party module, the URL resolver (both ways), the twilio REST resources we call, the database
pool (its first connections open in the background), the cache client, and the Celery app with a broker
connection in its producer pool (what the first enqueue would otherwise set up).
"""

import importlib
import logging
import pkgutil
import time
from pathlib import Path

from django.apps import apps
from django.conf import settings

logger = logging.getLogger(__name__)

# Never imported as part of serving: commands, schema history, tests, the other settings and entry points
# (test_settings changes the environment on import).
NOT_SERVING = {"migrations", "management", "tests", "test_settings", "wsgi", "asgi"}
# twilio resources the senders reach through lazy attributes of `Client` (messages.create/list, calls.create).
TWILIO_RESOURCES = ("twilio.rest.api.v2010.account.message", "twilio.rest.api.v2010.account.call")


def first_party_modules() -> list[str]:
    """Every module of our own apps that a request or task may import, in a stable order."""
    names = []
    for config in apps.get_app_configs():
        if Path(config.path).parent != Path(settings.BASE_DIR):
            continue  # a library's app (the virtualenv may live inside the checkout)
        names.append(config.name)
        for info in pkgutil.walk_packages([str(config.path)], prefix=f"{config.name}."):
            if NOT_SERVING.isdisjoint(info.name.split(".")):
                names.append(info.name)
    return names


def warm_up(*, database: bool = True) -> dict[str, float]:
    """Import, resolve and connect what serving needs; returns the milliseconds each step took (logged). Never
    raises or waits for the database: one that is down at start-up only means the first request connects, as it
    would have anyway. `database` False for a process that forks its workers after this: a pool's connections must
    not cross a fork."""
    from django.core.cache import cache
    from django.urls import get_resolver, reverse

    took = {}

    def step(name, work):
        started = time.perf_counter()
        try:
            work()
        except Exception:
            logger.warning("warm-up step %s failed; the first request will do it", name, exc_info=True)
        took[name] = round((time.perf_counter() - started) * 1000, 1)

    step("imports", lambda: [importlib.import_module(name) for name in [*first_party_modules(), *TWILIO_RESOURCES]])
    step("urls", lambda: get_resolver().resolve(reverse("twilio-voice")))
    if database:
        step("database", open_database_pool)
    step("cache", lambda: cache.get("secdesk:warm-up"))
    step("broker", connect_broker)
    logger.info("warmed up (ms): %s", ", ".join(f"{name} {ms}" for name, ms in took.items()))
    return took


def open_database_pool() -> None:
    """Start the process's connection pool (when pooling is on): its first connections open in the background."""
    from django.db import connection

    if connection.pool is not None:
        connection.pool.open(wait=False)


def connect_broker() -> None:
    """Finalize the Celery app (its task registry) and leave one connected producer in its pool: the first
    `.delay()` then only publishes. At most one quick retry: a broker that is down is the sweeper's business."""
    from secdesk.celery import app

    app.finalize(auto=True)
    with app.producer_pool.acquire(block=True, timeout=2) as producer:
        producer.connection.ensure_connection(max_retries=1)
        producer.channel  # noqa: B018 (opens the channel the first publish would)

"""The Celery app. Queues: `textback` (latency-critical sends and the sweeper) and `default` (everything else)."""

import logging
import logging.config
import os

from celery import Celery
from celery.signals import setup_logging, worker_init, worker_process_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secdesk.settings")

app = Celery("secdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_django_logging(loglevel=None, **kwargs) -> None:
    """Workers and beat log through settings.LOGGING (JSON lines, request/task context, secrets masked) instead of
    the handlers Celery would install; `--loglevel` still sets the root level."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)


@worker_init.connect
def warm_up_before_forking(**kwargs) -> None:
    """Imports and URL resolution once, before a prefork pool forks (its children inherit them): the first task
    after a restart costs what the rest do. The database pool is left to the process that uses it."""
    from secdesk.warmup import warm_up

    warm_up(database=False)


@worker_ready.connect
def open_database_pool(sender=None, **kwargs) -> None:
    """A threads (or gevent) pool runs tasks in this process: open its database pool before the first task needs
    it. A prefork pool's parent runs none, and its children must not inherit a pool's connections: each opens its
    own (below)."""
    from celery.concurrency.prefork import TaskPool as PreforkPool

    from secdesk.warmup import open_database_pool

    if not isinstance(getattr(sender, "pool", None), PreforkPool):
        open_database_pool()


@worker_process_init.connect
def open_child_database_pool(**kwargs) -> None:
    """Each prefork child, after the fork: its own database pool."""
    from secdesk.warmup import open_database_pool

    open_database_pool()

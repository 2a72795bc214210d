"""The Celery app. Queues: `textback` (latency-critical sends and the sweeper) and `default` (everything else)."""

import logging
import logging.config
import os

from celery import Celery
from celery.signals import setup_logging

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

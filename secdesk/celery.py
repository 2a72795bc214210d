"""The Celery app. Queues: `textback` (latency-critical sends and the sweeper) and `default` (everything else)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secdesk.settings")

app = Celery("secdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

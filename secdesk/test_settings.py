"""Settings for the test suite: the real settings module with development defaults and fast hashing."""

import os

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("DB_POOL", "0")  # pytest-django creates and drops the test database
# Per process, never inherited: xdist workers inherit the controller's environment, and tests clear their own keys.
os.environ["CACHE_KEY_PREFIX"] = f"secdesk-test-{os.getpid()}"

from secdesk.settings import *  # noqa: F403
from secdesk.settings import STORAGES

TELEPHONY_CONFIG_CACHE_SECONDS = 0  # tests change numbers and hours between requests; tests/test_ttl.py covers it
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; production uses Argon2
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = False
# Each test process gets its own broker keyspace, so parallel runs never consume each other's tasks.
CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": f"secdesk-test-{os.getpid()}:"}
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
STATIC_ROOT.mkdir(exist_ok=True)  # noqa: F405  (whitenoise warns about a missing root)

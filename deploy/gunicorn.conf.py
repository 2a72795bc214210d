"""Gunicorn settings for every production start (Procfile, Dockerfile, deploy/systemd/secdesk-web.service).

Logging goes through secdesk.logging: the same JSON lines and secret masking as Django's own, and an access log
whose fields (method, path, status, duration_ms, request_id) are JSON keys rather than one Apache-style string.
Tune with environment variables; the defaults suit one 2-core box.
"""

from pathlib import Path

import environ

from secdesk.logging import logging_config_from_env

env = environ.Env()
environ.Env.read_env(Path(__file__).resolve().parent.parent / ".env", overwrite=False)

bind = env.str("GUNICORN_BIND", default="0.0.0.0:8000")
# gthread: a webhook request mostly waits on PostgreSQL, so threads are cheaper than processes for the same
# concurrency; keep threads at or below DB_POOL_MAX (each worker has its own pool, each thread may hold one connection).
worker_class = "gthread"
# Not derived from os.cpu_count(): in a container that is the host's count, and every worker holds a DB pool.
workers = env.int("WEB_CONCURRENCY", default=3)
threads = env.int("GUNICORN_THREADS", default=4)
timeout = env.int("GUNICORN_TIMEOUT", default=30)
keepalive = 5
# The proxy in front sets X-Forwarded-For/Proto; trust it only from these addresses (gunicorn's own default also
# trusts ::1).
forwarded_allow_ips = env.str("FORWARDED_ALLOW_IPS", default="127.0.0.1")

accesslog = "-"
logger_class = "secdesk.logging.GunicornLogger"
logconfig_dict = logging_config_from_env(env)
# Gunicorn 24+ opens a control socket under $HOME by default; nothing here uses it, and the systemd units give the
# service no writable home.
control_socket_disable = True


def post_worker_init(worker) -> None:
    """Each worker, after the fork and before its first request: pay for lazy imports, URL resolution and the
    database pool now, not on the first caller after a deploy (secdesk.warmup)."""
    from secdesk.warmup import warm_up

    warm_up()

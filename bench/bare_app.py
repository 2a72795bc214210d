"""The bare pipeline the text-back path is compared with: a plain Django view that inserts one row and pushes
its id to Redis, and a plain consumer that pops ids and calls the carrier API. No tenancy, no idempotency, no
claims: the floor our real path is measured against. Run only by bench/textback_latency.py."""

import os
import sys

import psycopg
import redis
import requests

SECRET_KEY = "bench-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "bench.bare_urls"
INSTALLED_APPS: list = []
MIDDLEWARE: list = []
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("BARE_DB", "secdesk_bench"),
        "HOST": "127.0.0.1",
        "USER": "postgres",
        "OPTIONS": {"pool": {"min_size": 1, "max_size": 10}},
    }
}
USE_TZ = True
QUEUE = "bench:bare"
REDIS = redis.Redis.from_url(os.environ.get("BARE_REDIS", "redis://127.0.0.1:6379/3"))


def view(request):
    from django.db import connection
    from django.http import HttpResponse

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_bare_call (call_sid, caller) VALUES (%s, %s) RETURNING id",
            [request.POST["CallSid"], request.POST["From"]],
        )
        row_id = cursor.fetchone()[0]
    REDIS.lpush(QUEUE, f"{row_id}:{request.POST['From']}:{request.POST['To']}")
    return HttpResponse("<Response/>", content_type="text/xml")


def consume(threads: int = 8) -> None:
    """Pop ids and send from `threads` threads, each with a warm requests.Session: the same concurrency as our
    Celery worker, without claims, retries or bookkeeping."""
    import threading

    base = os.environ["TWILIO_API_BASE_URL"]
    account, token = os.environ["BARE_ACCOUNT_SID"], os.environ["BARE_AUTH_TOKEN"]
    url = f"{base}/2010-04-01/Accounts/{account}/Messages.json"

    def loop() -> None:
        session = requests.Session()
        session.auth = (account, token)
        client = redis.Redis.from_url(os.environ.get("BARE_REDIS", "redis://127.0.0.1:6379/3"))
        while True:
            item = client.brpop(QUEUE, timeout=1)
            if item is None:
                continue
            _row, caller, number = item[1].decode().split(":")
            session.post(url, data={"To": caller, "From": number, "Body": "Sorry we missed your call"}, timeout=10)

    workers = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def create_table(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_bare_call")
        conn.execute(
            "CREATE TABLE bench_bare_call (id bigserial primary key, call_sid text, caller text, "
            "created timestamptz default now())"
        )


if __name__ == "__main__" and sys.argv[1:] == ["consume"]:
    consume()

"""Reliability tests (issue #10): SecondDesk run as real, separate processes (gunicorn, a Celery worker, Celery beat,
the fake Twilio API) against PostgreSQL and Redis, with faults injected from outside the production code: webhooks
replayed concurrently, processes SIGKILLed at the worst moments, the carrier refusing or timing out, an opt-out
racing queued texts, Redis or PostgreSQL going away (test_redis_outage.py, test_postgres_restart.py,
test_timers_after_flush.py). Each test prints one line starting with
`RELIABILITY` with its figures (sent, lost, duplicated, recovery seconds).

They are marked `reliability` and run with the rest of the suite (`make test`), or alone:

    .venv/bin/pytest -m reliability -n 2 --dist loadfile -rA    # -rA shows each test's RELIABILITY line
    .venv/bin/pytest tests/reliability/test_stop_while_queued.py -p no:xdist -s    # one file, lines as they come

Needs PostgreSQL on 127.0.0.1:5432 (user postgres) and Redis on 127.0.0.1:6379; RELY_PG_URL and RELY_REDIS_URL
point elsewhere. Every test file creates its own scratch database (named after the file and the xdist worker) and
its deployment uses its own ports and broker key prefix, so two files can run at once. Process logs are kept under
the test's tmp_path and printed when a test fails. harness.py is the deployment; faults.py the fault entry points.
"""

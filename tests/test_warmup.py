"""Start-up warming (secdesk.warmup): what it loads, and that it never stops a process from starting."""

import logging
import sys

from secdesk import warmup


def test_first_party_modules_are_our_serving_code_only():
    names = warmup.first_party_modules()
    assert {"telephony.webhooks", "messaging.sending", "inbox.services", "secdesk.celery"} <= set(names)
    assert not [n for n in names if n.split(".")[0] in {"rest_framework", "django", "celery", "tests"}]
    unwanted = {"migrations", "management", "tests", "test_settings", "wsgi", "asgi"}
    assert not [n for n in names if unwanted & set(n.split("."))]


def test_warm_up_imports_resolves_and_connects(monkeypatch):
    for name in ("integrations.delivery", "twilio.rest.api.v2010.account.message"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    took = warmup.warm_up()
    assert set(took) == {"imports", "urls", "database", "cache", "broker"}
    assert "integrations.delivery" in sys.modules
    assert "twilio.rest.api.v2010.account.message" in sys.modules


def test_warm_up_without_the_database_step_for_a_process_that_forks():
    assert "database" not in warmup.warm_up(database=False)


def test_a_failing_step_is_logged_and_the_rest_still_run(monkeypatch, caplog):
    def broker_down():
        raise ConnectionRefusedError("no broker")

    monkeypatch.setattr(warmup, "connect_broker", broker_down)
    with caplog.at_level(logging.WARNING, logger="secdesk.warmup"):
        took = warmup.warm_up()
    assert set(took) == {"imports", "urls", "database", "cache", "broker"}
    assert any("broker" in r.getMessage() and r.exc_text for r in caplog.records)


def test_celery_opens_the_database_pool_where_tasks_run(monkeypatch):
    """A threads pool runs tasks in the worker process: it opens its pool when ready. A prefork parent runs
    none: only its children open one, after the fork."""
    from types import SimpleNamespace

    from celery.concurrency.prefork import TaskPool as PreforkPool
    from celery.concurrency.thread import TaskPool as ThreadsPool

    from secdesk import celery as celery_app

    opened = []
    monkeypatch.setattr(warmup, "open_database_pool", lambda: opened.append(1))
    celery_app.open_database_pool(sender=SimpleNamespace(pool=object.__new__(ThreadsPool)))
    assert opened == [1]
    celery_app.open_database_pool(sender=SimpleNamespace(pool=object.__new__(PreforkPool)))
    assert opened == [1]
    celery_app.open_child_database_pool()
    assert opened == [1, 1]

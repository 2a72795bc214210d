import pytest
from django.test import Client


@pytest.mark.django_db(transaction=True)
def test_healthz_reports_database_redis_and_a_worker_round_trip(celery_worker):
    response = Client().get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["redis"] == {"ok": True}
    assert body["checks"]["worker"]["ok"] is True and body["checks"]["worker"]["round_trip_ms"] >= 0


@pytest.mark.django_db
def test_healthz_is_503_when_redis_is_unreachable(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = Client().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded" and body["checks"]["redis"]["ok"] is False
    assert body["checks"]["worker"] == {"ok": False, "error": "no broker"}


def test_ping_task_answers_with_its_nonce():
    from secdesk.tasks import ping

    assert ping("abc") == "pong:abc"

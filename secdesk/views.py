import logging
import secrets
import time

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from secdesk.celery import app as celery_app
from tenants.models import Membership

logger = logging.getLogger(__name__)


def root(request):
    return redirect("home" if request.user.is_authenticated else "login")


@login_required
def home(request):
    """Land on the user's business; with several, the first by name (the switcher is in the header)."""
    membership = Membership.objects.filter(user=request.user).select_related("business").order_by("business__name")
    first = membership.first()
    if first is None:
        return render(request, "tenants/no_business.html")
    return redirect("dashboard", business_slug=first.business.slug)


def _check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True}
    except Exception as exc:  # reported, not raised: this is the health report
        return {"ok": False, "error": type(exc).__name__}


def _check_redis() -> dict:
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        client.ping()
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}


def _check_worker(timeout: float) -> dict:
    nonce = secrets.token_hex(4)
    started = time.monotonic()
    try:
        result = celery_app.send_task("secdesk.tasks.ping", args=[nonce], queue="default")
        answer = result.get(timeout=timeout)
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": answer == f"pong:{nonce}", "round_trip_ms": round((time.monotonic() - started) * 1000, 1)}


@never_cache
@require_GET
def healthz(request):
    """Database, Redis and a Celery round trip through the `default` queue, as JSON. 503 when any fails."""
    checks = {"database": _check_database(), "redis": _check_redis()}
    if not checks["redis"]["ok"]:
        checks["worker"] = {"ok": False, "error": "no broker"}
    else:
        # The round trip is shared for a few seconds, so a burst of health checks (or a prober while the worker is
        # down) cannot tie up web threads that carrier webhooks need.
        checks["worker"] = cache.get("healthz:worker")
        if checks["worker"] is None:
            checks["worker"] = _check_worker(timeout=2.0)
            cache.set("healthz:worker", checks["worker"], timeout=5)
    healthy = all(c["ok"] for c in checks.values())
    return JsonResponse({"status": "ok" if healthy else "degraded", "checks": checks}, status=200 if healthy else 503)


def ratelimited(request, exception=None):
    """django-ratelimit's answer: a plain 429 page with a hint, never a 500."""
    return HttpResponse(render(request, "429.html").content, status=429, headers={"Retry-After": "60"})

"""The outbound webhook worker. A delivery row is claimed with a conditional update (FOR UPDATE SKIP LOCKED), so
however many tasks and sweepers run for it, one worker posts each attempt. Delivery is at least once: a worker
killed mid-request leaves a row that is retried, which is why every event carries an id to deduplicate by.

Signature (webhook endpoints; Slack ones are not signed):
    X-SecondDesk-Timestamp: <unix seconds>
    X-SecondDesk-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{raw body}")>
Retries: 5xx, 408, 429, timeouts and connection errors retry with exponential backoff and jitter (30 s, 1 min,
2 min, ... capped at 1 hour) until 24 hours after the event, then the row fails and the owners are told once.
Any other 4xx, a redirect, or a refused address fails at once (retrying cannot fix it).
"""

import datetime as dt
import hashlib
import hmac
import json
import logging
import random

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from requests.adapters import HTTPAdapter

from integrations.models import WebhookDelivery, WebhookEndpoint
from integrations.netguard import BlockedAddress, GuardedHTTPPool, GuardedHTTPSPool, check_url

logger = logging.getLogger(__name__)
S = WebhookDelivery.Status
EXCERPT_CHARS = 500
FIRST_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 3600
RETRY_STATUSES = {408, 429}
STUCK_SENDING_AFTER = dt.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 30)
SWEEP_GRACE = dt.timedelta(seconds=2)  # leave the on-commit fast path time to run first
SWEEP_REENQUEUE_EVERY = dt.timedelta(seconds=30)
SWEEP_BATCH = 500
NOTIFY_OWNERS_EVERY = dt.timedelta(hours=24)
USER_AGENT = "SecondDesk-Webhooks/1"


def backoff(attempt: int) -> dt.timedelta:
    """Delay after the `attempt`-th failed attempt: 30 s doubling to a 1 h cap, with jitter in [base/2, base] so
    a receiver coming back from an outage is not hit by every retry at the same second."""
    base = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** (attempt - 1))
    return dt.timedelta(seconds=base / 2 + random.uniform(0, base / 2))


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def slack_text(payload: dict) -> str:
    """One readable line (Slack mrkdwn) per event kind Slack hears about; with a link to the conversation."""
    data = payload["data"]
    conversation = data.get("conversation", {})
    link = f"<{conversation.get('url', '')}|Open in SecondDesk>"
    caller = conversation.get("caller", "")
    kind = payload["type"]
    if kind == "conversation.urgent":
        return f":rotating_light: *Urgent* from {caller}: {data.get('reason', '')} {link}"
    if kind == "conversation.booked":
        value = f" (${data['booked_value']})" if data.get("booked_value") else ""
        return f":white_check_mark: *Job booked*{value} with {caller}. {link}"
    if kind == "conversation.created":
        return f":telephone_receiver: *New lead* from {caller}. {link}"
    return f"SecondDesk test event for {payload['business']}. Your Slack connection works."


def request_for(delivery: WebhookDelivery, *, now: dt.datetime) -> tuple[bytes, dict[str, str]]:
    """The exact body and headers an attempt sends (also shown in the delivery log)."""
    endpoint = delivery.endpoint
    if endpoint.kind == WebhookEndpoint.Kind.SLACK:
        body = json.dumps({"text": slack_text(delivery.payload)}).encode()
        return body, {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(now.timestamp())
    return body, {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-SecondDesk-Event": delivery.event_type,
        "X-SecondDesk-Id": str(delivery.event_id),
        "X-SecondDesk-Timestamp": str(timestamp),
        "X-SecondDesk-Signature": sign(endpoint.secret, timestamp, body),
    }


class _GuardedAdapter(HTTPAdapter):
    """requests' adapter with connections that refuse a non-public peer (see integrations.netguard)."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: the address check must see the real peer
    adapter = _GuardedAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _claim(delivery_id: int) -> WebhookDelivery | None:
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("endpoint", "business")
            .filter(pk=delivery_id, status=S.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if delivery is None:
            return None
        delivery.status, delivery.sending_at = S.SENDING, now
        delivery.attempts += 1  # exact: we hold the row lock
        delivery.save(update_fields=["status", "sending_at", "attempts"])
    return delivery


def deliver(*, delivery_id: int) -> str:
    """Post one due pending delivery. Safe to call any number of times from any number of workers: only the
    claim winner sends. Returns what happened (for logs and tests)."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return "nothing to claim"
    endpoint = delivery.endpoint
    if not endpoint.active:
        return _finish(delivery, ok=False, retry=False, error="The endpoint was disabled before this was sent.")
    now = timezone.now()
    try:
        check_url(endpoint.url)
        body, headers = request_for(delivery, now=now)
        with _session() as session:
            response = session.post(
                endpoint.url, data=body, headers=headers, timeout=settings.WEBHOOKS_TIMEOUT, allow_redirects=False
            )
    except BlockedAddress as error:
        return _finish(delivery, ok=False, retry=False, error=f"Refused: {error}")
    except requests.Timeout:
        return _finish(delivery, ok=False, retry=True, error="The receiver did not answer in time.")
    except requests.RequestException as error:
        return _finish(delivery, ok=False, retry=True, error=f"Could not connect: {type(error).__name__}.")
    except Exception:
        logger.exception("unexpected error delivering webhook %s", delivery.pk)
        return _finish(delivery, ok=False, retry=True, error="Unexpected error while sending; will retry.")
    code = response.status_code
    excerpt = response.text[:EXCERPT_CHARS]
    if 200 <= code < 300:
        return _finish(delivery, ok=True, code=code, excerpt=excerpt)
    retry = code >= 500 or code in RETRY_STATUSES
    return _finish(delivery, ok=False, retry=retry, code=code, excerpt=excerpt, error=f"The receiver answered {code}.")


def _finish(
    delivery: WebhookDelivery, *, ok: bool, retry: bool = False, code: int | None = None, excerpt: str = "", error=""
) -> str:
    now = timezone.now()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().select_related("endpoint").filter(pk=delivery.pk).first()
        if delivery is None or delivery.status != S.SENDING:
            return "already settled"  # settled elsewhere, or the endpoint was deleted meanwhile
        delivery.response_code, delivery.response_excerpt = code, excerpt
        fields = ["status", "response_code", "response_excerpt", "error", "next_attempt_at"]
        if ok:
            delivery.status, delivery.error, delivery.next_attempt_at = S.DELIVERED, "", None
            delivery.delivered_at = now
            delivery.save(update_fields=[*fields, "delivered_at"])
            return "delivered"
        next_at = now + backoff(delivery.attempts)
        if retry and next_at <= delivery.give_up_at:
            delivery.status, delivery.next_attempt_at = S.PENDING, next_at
            delivery.error = f"{error} Retrying at {next_at:%H:%M:%S} UTC."[:300]
            delivery.save(update_fields=fields)
            return "retry"
        if retry:
            error = f"{error} Still failing 24 hours after the event: given up."
        delivery.status, delivery.error, delivery.next_attempt_at = S.FAILED, error[:300], None
        delivery.failed_at = now
        delivery.save(update_fields=[*fields, "failed_at"])
        _failed_for_good(delivery, now=now)
    return "failed"


def _failed_for_good(delivery: WebhookDelivery, *, now: dt.datetime) -> None:
    """Audit the failure and, at most once a day per endpoint, email the owners (after commit, by a task)."""
    from compliance.services import audit

    audit(
        business=delivery.business,
        action="webhook.failed",
        target=delivery.endpoint,
        event_type=delivery.event_type,
        event_id=str(delivery.event_id),
        attempts=delivery.attempts,
        error=delivery.error,
    )
    endpoint = delivery.endpoint
    if not endpoint.active:
        return  # paused by a person: its leftover deliveries failing is no news to them
    if endpoint.failure_notified_at and now - endpoint.failure_notified_at < NOTIFY_OWNERS_EVERY:
        return
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failure_notified_at=now)
    from integrations.tasks import notify_owners_task

    transaction.on_commit(lambda: notify_owners_task.delay(delivery.pk))


def notify_owners(*, delivery_id: int) -> int:
    """Email the business's owners that a delivery failed for good, with a link to the delivery log. Returns how
    many were emailed. May be retried (an owner may get the email twice; never zero times while SMTP works)."""
    from tenants.models import Membership

    delivery = WebhookDelivery.objects.select_related("business", "endpoint").get(pk=delivery_id)
    business, endpoint = delivery.business, delivery.endpoint
    emails = list(
        Membership.objects.filter(business=business, role=Membership.Role.OWNER, user__is_active=True)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    if not emails:
        return 0
    log_url = settings.PUBLIC_BASE_URL + reverse("settings_webhook", args=[business.slug, endpoint.pk])
    subject = f"SecondDesk: webhook deliveries to {endpoint.display_url} are failing"
    body = (
        f"A {delivery.event_type} event for {business.name} could not be delivered to {endpoint.display_url}.\n"
        f"Last error: {delivery.error}\n\n"
        f"See the delivery log and resend it when the receiver works again:\n{log_url}\n\n"
        "You get at most one of these emails a day per endpoint.\n"
    )
    send_mail(" ".join(subject.split()), body, None, emails)
    return len(emails)


def sweep() -> dict[str, int]:
    """Re-ring due rows the broker lost or whose retry came due, and put back rows a dead worker left in flight.
    Rows are taken FOR UPDATE SKIP LOCKED and stamped, so sweepers running at once split the work; ringing a
    row twice is harmless anyway, as sending claims the row first."""
    from integrations.tasks import deliver_webhook_task

    now = timezone.now()
    with transaction.atomic():
        stuck = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=S.SENDING, sending_at__lt=now - STUCK_SENDING_AFTER)
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        )
        # At least once: the receiver may have had it; the event id lets it drop the copy.
        WebhookDelivery.objects.filter(pk__in=stuck).update(status=S.PENDING, next_attempt_at=now)
        due = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=S.PENDING, next_attempt_at__lte=now - SWEEP_GRACE)
            .exclude(swept_at__gt=now - SWEEP_REENQUEUE_EVERY)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        )
        WebhookDelivery.objects.filter(pk__in=due).update(swept_at=now)
        transaction.on_commit(lambda: [deliver_webhook_task.delay(pk) for pk in due])
    return {"requeued": len(due), "stuck": len(stuck)}

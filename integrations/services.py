"""Writes for the owner's webhook settings: add, disable/enable, delete an endpoint; resend a delivery; send a
test event. Each runs in one transaction, writes an audit entry and leaves sending to the worker (no network in
a request)."""

import secrets
import uuid

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from compliance.services import audit
from integrations.models import EVENT_NAMES, SLACK_EVENTS, WebhookDelivery, WebhookEndpoint
from integrations.netguard import BlockedAddress, check_url
from integrations.outbound import RETRY_FOR, envelope, ring

MAX_ENDPOINTS = 10


@transaction.atomic
def endpoint_create(*, business, kind: str, url: str, events: list[str], actor) -> tuple[WebhookEndpoint, str]:
    """Add an endpoint. Returns it with its signing secret in clear, to be shown once (blank for Slack). Raises
    ValidationError for a refused URL (not http(s), or a private address in production) or no events."""
    if kind not in WebhookEndpoint.Kind.values:
        raise ValidationError({"kind": "Choose webhook or Slack."})
    events = [e for e in EVENT_NAMES if e in set(events)]
    if kind == WebhookEndpoint.Kind.SLACK:
        events = [e for e in events if e in SLACK_EVENTS] or list(SLACK_EVENTS)
        if not url.startswith("https://hooks.slack.com/"):
            raise ValidationError({"url": "A Slack incoming-webhook URL starts with https://hooks.slack.com/."})
    if not events:
        raise ValidationError({"events": "Choose at least one event to send."})
    try:
        check_url(url)
    except BlockedAddress as error:
        raise ValidationError({"url": str(error)}) from None
    if WebhookEndpoint.objects.filter(business=business).count() >= MAX_ENDPOINTS:
        raise ValidationError(f"A business can have at most {MAX_ENDPOINTS} endpoints; delete one first.")
    secret = "" if kind == WebhookEndpoint.Kind.SLACK else "whsec_" + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint(business=business, kind=kind, url=url, events=events)
    endpoint.secret = secret
    endpoint.save()
    audit(business=business, action="webhook.created", actor=actor, target=endpoint, url=endpoint.display_url)
    return endpoint, secret


@transaction.atomic
def endpoint_set_active(*, endpoint: WebhookEndpoint, active: bool, actor) -> WebhookEndpoint:
    """Pause or resume an endpoint. While paused no new events are queued for it; queued ones fail when due."""
    endpoint.active = active
    endpoint.save(update_fields=["active"])
    audit(
        business=endpoint.business,
        action="webhook.enabled" if active else "webhook.disabled",
        actor=actor,
        target=endpoint,
    )
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint: WebhookEndpoint, actor) -> None:
    """Delete an endpoint with its delivery log."""
    audit(business=endpoint.business, action="webhook.deleted", actor=actor, target=endpoint, url=endpoint.display_url)
    endpoint.delete()


@transaction.atomic
def delivery_resend(*, delivery: WebhookDelivery, actor) -> WebhookDelivery:
    """Send an event again as a new delivery row with the SAME event id and payload (so a receiver that got it
    before can drop it), with a fresh 24-hour retry window."""
    now = timezone.now()
    copy = WebhookDelivery.objects.create(
        business=delivery.business,
        endpoint=delivery.endpoint,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        payload=delivery.payload,
        next_attempt_at=now,
        give_up_at=now + RETRY_FOR,
    )
    audit(
        business=delivery.business,
        action="webhook.resent",
        actor=actor,
        target=delivery.endpoint,
        event_id=str(delivery.event_id),
    )
    ring([copy.pk])
    return copy


@transaction.atomic
def send_test_event(*, endpoint: WebhookEndpoint, actor) -> WebhookDelivery:
    """Queue a `test` event for this endpoint only (signed like any other), to check the receiver."""
    now = timezone.now()
    event_id = uuid.uuid4()
    delivery = WebhookDelivery.objects.create(
        business=endpoint.business,
        endpoint=endpoint,
        event_id=event_id,
        event_type="test",
        payload=envelope(
            event_id=event_id,
            event_type="test",
            slug=endpoint.business.slug,
            at=now,
            data={"message": "A test event from SecondDesk. If you can read this, your endpoint works."},
        ),
        next_attempt_at=now,
        give_up_at=now + RETRY_FOR,
    )
    ring([delivery.pk])
    return delivery

"""Events for outbound webhooks and Slack: `emit` and one small builder per event type.

`emit` runs inside the transaction of whatever caused the event (a missed call, an inbound text, a booking): it
writes one delivery row per active endpoint subscribed to the event and rings the delivery task on commit, so
an event is never lost (the row is there or the cause rolled back too) and never sent for work that rolled back.
With no endpoints it costs at most one indexed query every couple of seconds per process, and the payload is not
even built (builders pass a callable).

Payload (stable; fields are only ever added):
    {"id": "<uuid, the same on every retry and resend>", "type": "call.missed",
     "created_at": "2026-01-02T03:04:05.678901+00:00", "business": "<slug>", "data": {...}}
`data` carries what a CRM or dispatch tool needs to act and no more caller data than that (see docs/webhooks.md).
"""

import datetime as dt
import uuid
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from integrations.models import SLACK_EVENTS, WebhookDelivery, WebhookEndpoint
from secdesk.ttl import TTLCache

RETRY_FOR = dt.timedelta(hours=24)


def envelope(*, event_id: uuid.UUID, event_type: str, slug: str, at: dt.datetime, data: dict) -> dict:
    return {"id": str(event_id), "type": event_type, "created_at": at.isoformat(), "business": slug, "data": data}


# Most businesses have no endpoint. Whether one has any is reused per process for a couple of seconds (the setting
# that also covers a number's configuration), which spares the missed-call path its lookups: a new endpoint hears
# events from at most that long after it is saved. The endpoints themselves are always read fresh, so a paused or
# deleted one is never written to.
_has_endpoints = TTLCache("TELEPHONY_CONFIG_CACHE_SECONDS")


def _any_active(business_id: int) -> bool:
    return WebhookEndpoint.objects.filter(business_id=business_id, active=True).exists()


def emit(*, business_id: int, event_type: str, data: dict | Callable[[], dict]) -> list[WebhookDelivery]:
    """Queue `event_type` for every active endpoint of the business that subscribed to it (Slack endpoints only
    hear new leads, urgent cases and bookings). Call inside the transaction of the cause; idempotence is the
    caller's (call it once per real event, e.g. after the webhook's unique-row insert). Returns the rows."""
    if not _has_endpoints.get(business_id, lambda: _any_active(business_id)):
        return []
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(business_id=business_id, active=True)
        .only("id", "kind", "events", "business__slug")
        .select_related("business")
        if event_type in endpoint.events and (endpoint.kind != WebhookEndpoint.Kind.SLACK or event_type in SLACK_EVENTS)
    ]
    if not endpoints:
        return []
    now = timezone.now()
    event_id = uuid.uuid4()
    payload = envelope(
        event_id=event_id,
        event_type=event_type,
        slug=endpoints[0].business.slug,
        at=now,
        data=data() if callable(data) else data,
    )
    rows = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            business_id=business_id,
            endpoint=endpoint,
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            next_attempt_at=now,
            give_up_at=now + RETRY_FOR,
        )
        for endpoint in endpoints
    )
    ring([row.pk for row in rows])
    return rows


def ring(delivery_ids: list[int]) -> None:
    """Enqueue the delivery task for these rows once the current transaction commits (the sweeper catches any
    the broker loses). Robust: with the broker down the error is logged, never raised into the request that
    committed (a carrier webhook would answer 500 for a row that is safely stored)."""
    from integrations.tasks import deliver_webhook_task

    transaction.on_commit(lambda: [deliver_webhook_task.delay(pk) for pk in delivery_ids], robust=True)


def _conversation_url(slug: str, conversation_id: int) -> str:
    return settings.PUBLIC_BASE_URL + reverse("conversation", args=[slug, conversation_id])


def _conversation(conversation) -> dict:
    return {
        "id": conversation.pk,
        "status": conversation.status,
        "priority": conversation.priority,
        "caller": conversation.contact.phone,
        "url": _conversation_url(conversation.business.slug, conversation.pk),
    }


# --- one builder per event type, called from the code that causes it -----------------------------------------------


def call_missed(call) -> None:
    emit(
        business_id=call.business_id,
        event_type="call.missed",
        data=lambda: {
            "call": {
                "id": call.pk,
                "caller": call.caller or None,  # null when the caller id was withheld or invalid
                "to": call.phone_number.e164,
                "started_at": call.started_at.isoformat() if call.started_at else None,
                "missed_reason": call.missed_reason,
                "texted": call.decision == "texted",
                "decision": call.decision,
            },
            "conversation_id": call.conversation_id,
        },
    )


def conversation_created(conversation) -> None:
    emit(
        business_id=conversation.business_id,
        event_type="conversation.created",
        data=lambda: {"conversation": _conversation(conversation)},
    )


def message_received(message) -> None:
    emit(
        business_id=message.business_id,
        event_type="message.received",
        data=lambda: {
            "message": {
                "id": message.pk,
                "from": message.from_number,
                "to": message.to_number,
                "body": message.body,
                "media_count": len(message.media or []),
                "received_at": message.created_at.isoformat(),
            },
            "conversation_id": message.conversation_id,
        },
    )


def message_failed(message) -> None:
    emit(
        business_id=message.business_id,
        event_type="message.failed",
        data=lambda: {
            "message": {
                "id": message.pk,
                "to": message.to_number,
                "kind": message.kind,
                "status": message.status,
                "error_code": message.error_code,
                "error": message.error_message,
            },
            "conversation_id": message.conversation_id,
        },
    )


def intake_submitted(submission, *, first: bool) -> None:
    emit(
        business_id=submission.business_id,
        event_type="intake.submitted",
        data=lambda: {
            "intake": {
                "id": submission.pk,
                "first": first,  # false when the caller changed answers they had already sent
                "name": submission.name,
                "service_type": submission.service_type,
                "description": submission.description,
                "address": submission.address,
                "zip_code": submission.zip_code,
                "urgency": submission.urgency,
                "callback_window": submission.callback_window,
                "customer_type": submission.customer_type,
            },
            "conversation_id": submission.conversation_id,
        },
    )


def conversation_urgent(conversation, *, reason: str) -> None:
    emit(
        business_id=conversation.business_id,
        event_type="conversation.urgent",
        data=lambda: {"conversation": _conversation(conversation), "reason": reason[:200]},
    )


def conversation_booked(conversation) -> None:
    emit(
        business_id=conversation.business_id,
        event_type="conversation.booked",
        data=lambda: {
            "conversation": _conversation(conversation),
            "booked_value": str(conversation.booked_value) if conversation.booked_value is not None else None,
        },
    )


def contact_opted_out(event) -> None:
    emit(
        business_id=event.business_id,
        event_type="contact.opted_out",
        data=lambda: {"phone": event.phone, "kind": event.kind, "at": event.created_at.isoformat()},
    )

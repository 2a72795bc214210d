"""Outbound webhooks: the business's endpoints (its own URL, or a Slack incoming webhook) and the outbox of
deliveries. Every event is a delivery row first, written in the transaction that caused it; a worker posts it."""

import uuid

from django.db import models
from django.db.models import Q

from secdesk import crypto
from tenants.models import Business

EVENT_TYPES = (
    ("call.missed", "A call was missed"),
    ("conversation.created", "A new conversation started"),
    ("message.received", "A caller sent a text"),
    ("message.failed", "A text could not be delivered"),
    ("intake.submitted", "A caller filled in the intake form"),
    ("conversation.urgent", "A conversation became urgent"),
    ("conversation.booked", "A job was booked"),
    ("contact.opted_out", "A caller opted out of texts"),
)
EVENT_NAMES = tuple(name for name, _ in EVENT_TYPES)
# What a Slack channel hears about: a new lead, an urgent case, a booked job.
SLACK_EVENTS = ("conversation.created", "conversation.urgent", "conversation.booked")


class WebhookEndpoint(models.Model):
    """Where a business wants its events posted. The signing secret is encrypted at rest (it must be read back
    to sign); Slack endpoints are not signed (Slack's incoming-webhook URL is itself the secret)."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Webhook (signed JSON)"
        SLACK = "slack", "Slack incoming webhook"

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="webhook_endpoints")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.WEBHOOK)
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list)  # event type names, a subset of EVENT_NAMES
    secret_encrypted = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # when the owners were last told a delivery to this endpoint failed for good (at most one alert a day)
    failure_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # emit(): the business's active endpoints
            models.Index(fields=["business", "active"], name="webhook_endpoint_active_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.url}"

    @property
    def secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted) if self.secret_encrypted else ""

    @secret.setter
    def secret(self, value: str) -> None:
        self.secret_encrypted = crypto.encrypt(value) if value else ""

    @property
    def display_url(self) -> str:
        """The URL without its path for a Slack hook (the path is the credential), in full otherwise."""
        if self.kind == self.Kind.SLACK:
            return self.url.split("/services/")[0] + "/services/…"
        return self.url


class WebhookDelivery(models.Model):
    """One event for one endpoint (the outbox row). `event_id` is the same for every attempt and every resend of
    the event, so a receiver can deduplicate by it.

    States:  pending -> sending -> delivered
                               \\-> pending again with next_attempt_at (5xx, 408, 429, timeout, connection error)
                               \\-> failed (4xx, refused address, or still failing 24 hours after the event)
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # waiting for its (next) attempt at next_attempt_at
        SENDING = "sending", "Sending"  # claimed by a worker; the request is in flight
        DELIVERED = "delivered", "Delivered"  # the receiver answered 2xx
        FAILED = "failed", "Failed"  # given up; `error` says why

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.UUIDField(default=uuid.uuid4)
    event_type = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sending_at = models.DateTimeField(null=True, blank=True)
    swept_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # retries stop this long after the event first happened (a resend starts a new window)
    give_up_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # the delivery log: an endpoint's newest deliveries
            models.Index(fields=["business", "endpoint", "-created_at"], name="webhook_delivery_log_idx"),
            # the sweeper: due pending rows
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_delivery_due_idx"),
            # the sweeper: rows a dead worker left in flight
            models.Index(fields=["sending_at"], condition=Q(status="sending"), name="webhook_delivery_stuck_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} -> {self.endpoint_id}"

"""Every text in or out. An outbound Message row exists before any carrier call: the row is the work item."""

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper

from tenants.models import Business


class Message(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "in", "Inbound"
        OUTBOUND = "out", "Outbound"

    class Kind(models.TextChoices):
        TEXTBACK = "textback", "Text-back"  # the automatic reply to a missed call
        REPLY = "reply", "Reply"  # an operator's message (inbox or API)
        AUTO_HELP = "auto_help", "Help reply"  # answer to HELP/INFO
        OPT_OUT_CONFIRM = "opt_out_confirm", "Opt-out confirmation"
        ESCALATION = "escalation", "Escalation"  # to a caller about an urgent case
        NOTIFICATION = "notification", "Team notification"  # internal alert to a member's own phone
        FOLLOW_UP = "follow_up", "Follow-up"  # automated nudge, subject to quiet hours
        OUT_OF_AREA = "out_of_area", "Out-of-area reply"  # to a caller whose ZIP no territory covers
        INBOUND = "inbound", "Caller message"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"  # inbound only
        QUEUED = "queued", "Queued"  # row committed, waiting for a worker
        SENDING = "sending", "Sending"  # claimed by a worker, carrier request in flight
        SENT = "sent", "Sent"  # the carrier accepted it
        DELIVERED = "delivered", "Delivered"
        UNDELIVERED = "undelivered", "Not delivered"
        FAILED = "failed", "Failed"  # never sent or refused; error_message says why
        UNKNOWN = "unknown", "Unknown"  # the request may have reached the carrier: reconciled, never resent

    class Trigger(models.TextChoices):
        RULE = "rule", "Rule"
        USER = "user", "Person"
        SYSTEM = "system", "System"

    FINAL_STATUSES = (Status.DELIVERED, Status.UNDELIVERED, Status.FAILED)

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="messages")
    conversation = models.ForeignKey(
        "inbox.Conversation", null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    phone_number = models.ForeignKey(
        "telephony.PhoneNumber", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    from_number = models.CharField(max_length=20)
    to_number = models.CharField(max_length=20)
    body = models.TextField(blank=True)
    # [{"url": ..., "content_type": ..., "stored": "<storage path>"}]
    media = models.JSONField(default=list, blank=True)
    # Inbound MMS whose items are not all stored (or refused) yet: the work row the media sweeper re-rings.
    media_pending = models.BooleanField(default=False, db_default=False)  # db_default: code of before inserts too
    status = models.CharField(max_length=12, choices=Status.choices)
    provider = models.CharField(max_length=20)
    provider_message_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    # Idempotency for automated sends, e.g. "textback:<CallSid>": a replayed webhook cannot queue a second text.
    idempotency_key = models.CharField(max_length=120, null=True, blank=True, unique=True)
    error_code = models.CharField(max_length=10, blank=True)
    error_message = models.CharField(max_length=300, blank=True)
    encoding = models.CharField(max_length=6, blank=True)
    segments = models.PositiveSmallIntegerField(default=0)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.SYSTEM)
    trigger_detail = models.CharField(max_length=120, blank=True)  # e.g. "missed_call:CA...", rule name
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    swept_at = models.DateTimeField(null=True, blank=True)  # last time a sweeper re-enqueued its send or media fetch
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    sending_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    status_rank = models.PositiveSmallIntegerField(default=0)  # carrier callbacks only move it forward

    class Meta:
        indexes = [
            # thread view: a conversation's messages in order
            models.Index(fields=["business", "conversation", "created_at"], name="message_thread_idx"),
            # inbox search by message text: trigrams of UPPER(body), the expression `icontains` compares on PostgreSQL
            GinIndex(F("business"), OpClass(Upper("body"), name="gin_trgm_ops"), name="message_body_trgm_idx"),
            # retention purge and the automated-messages export: a business's messages by age
            models.Index(fields=["business", "created_at"], name="message_business_created_idx"),
            # sweeper: outbound rows still to send, by due time (partial: small and hot)
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["queued", "unknown"]),
                name="message_due_idx",
            ),
            # the sweeper's stuck-send check and /metrics: rows in flight (partial: a handful at any time)
            models.Index(fields=["sending_at"], condition=Q(status="sending"), name="message_sending_idx"),
            # the media sweeper: inbound MMS not yet copied (partial: empty but for the last minutes' MMS)
            models.Index(fields=["created_at"], condition=Q(media_pending=True), name="message_media_pending_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.kind} {self.to_number} [{self.status}]"


class TextbackSettings(models.Model):
    """A business's text-back wording (business hours and after hours) and an optional delay."""

    business = models.OneToOneField(Business, on_delete=models.CASCADE, related_name="textback_settings")
    open_template = models.TextField("during business hours")
    closed_template = models.TextField("after hours")
    delay_seconds = models.PositiveSmallIntegerField(
        default=0,
        help_text="Wait this long before texting (0-120 s), for owners who like to call back first.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "text-back settings"

    def __str__(self) -> str:
        return f"Text-back settings for {self.business}"

"""Carrier credentials, the business numbers we answer, every call that reached them, and the call backs we place."""

from django.conf import settings
from django.db import models

from secdesk import crypto
from tenants.models import Business


class CarrierCredential(models.Model):
    """A business's own carrier account (e.g. a Twilio subaccount). The auth token is encrypted at rest."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="carrier_credentials")
    provider = models.CharField(max_length=20, default="twilio")
    account_sid = models.CharField(max_length=64)
    auth_token_encrypted = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # webhook signature checks pick the token by AccountSid, so an account belongs to one business
            models.UniqueConstraint(fields=["provider", "account_sid"], name="credential_provider_account_uniq"),
            models.UniqueConstraint(fields=["business", "provider"], name="credential_business_provider_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.account_sid}"

    @property
    def auth_token(self) -> str:
        return crypto.decrypt(self.auth_token_encrypted)

    @auth_token.setter
    def auth_token(self, value: str) -> None:
        self.auth_token_encrypted = crypto.encrypt(value)

    @property
    def masked_token(self) -> str:
        return "••••••••" + self.auth_token[-4:]


class PhoneNumber(models.Model):
    """A number we own on behalf of a business. Carrier webhooks find the tenant from it."""

    class Mode(models.TextChoices):
        RING = "ring", "We ring your phone first"  # calls come to us; we ring forward_to and screen
        FORWARDED = "forwarded", "Your carrier forwards unanswered calls"  # every call that reaches us is missed

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="phone_numbers")
    e164 = models.CharField("number", max_length=20, unique=True)
    provider = models.CharField(max_length=20, default="twilio")
    label = models.CharField(max_length=60, blank=True)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.RING)
    forward_to = models.CharField(
        max_length=20, blank=True, help_text="The phone we ring first in 'ring' mode (E.164), e.g. the owner's mobile."
    )
    ring_timeout = models.PositiveSmallIntegerField(
        default=18,
        help_text="Seconds to ring before treating the call as missed (under 20, so a cell voicemail "
        "does not pick up first).",
    )
    screening = models.BooleanField(
        default=True, help_text="Ask whoever answers to press 1, so a voicemail pickup still counts as missed."
    )
    voicemail_enabled = models.BooleanField(default=True)
    voicemail_greeting = models.CharField(max_length=500, blank=True)
    a2p_registered = models.BooleanField(
        "registered for business texting",
        default=False,
        help_text="This number is in an approved A2P 10DLC campaign (or verified toll-free). Unregistered US numbers "
        "are blocked by carriers (error 30034).",
    )
    carrier_handles_keywords = models.BooleanField(
        default=False,
        help_text="The carrier already answers STOP/HELP for this number (e.g. Twilio Advanced Opt-Out), so we do not "
        "send our own confirmation.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["e164"]
        indexes = [models.Index(fields=["business", "e164"], name="number_business_idx")]  # numbers page

    def __str__(self) -> str:
        return self.label or self.e164

    def greeting(self) -> str:
        return self.voicemail_greeting or (
            f"Sorry we missed your call to {self.business.sender_name}. "
            "We'll text you right away. You can also leave a message after the tone."
        )


class BlockedNumber(models.Model):
    """Callers a business never wants texted (spam, known robocallers)."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="blocked_numbers")
    e164 = models.CharField(max_length=20)
    reason = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["business", "e164"], name="blocked_business_number_uniq")]

    def __str__(self) -> str:
        return self.e164


class Call(models.Model):
    """One inbound call to a business number, with what we decided about it and why; or one call back, which we
    place to a team member's phone and connect to the caller with the business number as caller id (direction
    "outbound", `placed_by` set)."""

    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound"  # a caller dialled the business number
        OUTBOUND = "outbound", "Call back"  # a team member called the caller back through us

    class Status(models.TextChoices):
        RINGING = "ringing", "Ringing"  # inbound: we ring the business's phone; call back: we ring the member's
        ANSWERED = "answered", "Answered"  # a person accepted it (call back: the member picked up)
        MISSED = "missed", "Missed"  # inbound only: nobody (or only a voicemail) took it
        # How a call back ended (the member's leg, from the carrier's status callback)
        COMPLETED = "completed", "Completed"  # the member answered and the call has ended
        NO_ANSWER = "no_answer", "Not answered"  # the member's phone rang out
        BUSY = "busy", "Busy"  # the member's phone was busy
        FAILED = "failed", "Failed"  # the carrier refused or could not place it (`error` says why)

    class MissedReason(models.TextChoices):
        NO_ANSWER = "no_answer", "No answer"
        BUSY = "busy", "Line busy"
        UNREACHABLE = "unreachable", "Phone unreachable"
        CALLER_HUNG_UP = "caller_hung_up", "Caller hung up while ringing"
        VOICEMAIL_PICKUP = "voicemail_pickup", "Voicemail picked up (nobody pressed 1)"
        AFTER_HOURS = "after_hours", "After hours"
        FORWARDED = "forwarded", "Forwarded by your carrier"

    class Decision(models.TextChoices):
        PENDING = "pending", "Pending"  # the call is still ringing
        TEXTED = "texted", "Text-back queued"
        NOT_MISSED = "not_missed", "Answered: no text"
        SPAM = "spam", "Not texted: spam or invalid caller id"
        BLOCKED = "blocked", "Not texted: blocked number"
        INTERNAL = "internal", "Not texted: own number or team member"
        REPEAT = "repeat", "Not texted: repeat call inside the window"
        NO_NUMBER = "no_number", "Not texted: number cannot send"

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="calls")
    phone_number = models.ForeignKey(PhoneNumber, on_delete=models.PROTECT, related_name="calls")
    provider = models.CharField(max_length=20)
    provider_call_id = models.CharField(max_length=64)
    direction = models.CharField(max_length=10, choices=Direction.choices, default=Direction.INBOUND)
    from_raw = models.CharField(max_length=64, blank=True)  # exactly what the carrier sent (may be "anonymous")
    caller = models.CharField(max_length=20, blank=True)  # E.164, blank when withheld or invalid
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RINGING)
    missed_reason = models.CharField(max_length=20, choices=MissedReason.choices, blank=True)
    dial_status = models.CharField(max_length=20, blank=True)  # DialCallStatus as reported
    decision = models.CharField(max_length=12, choices=Decision.choices, default=Decision.PENDING)
    decision_reason = models.CharField(max_length=200, blank=True)
    spam_verdict = models.CharField(max_length=40, blank=True)
    caller_name = models.CharField(max_length=120, blank=True)
    caller_city = models.CharField(max_length=80, blank=True)
    caller_state = models.CharField(max_length=20, blank=True)
    caller_zip = models.CharField(max_length=12, blank=True)
    stir_verstat = models.CharField(max_length=40, blank=True)
    # inbound: someone pressed 1 on the screened leg; call back: the member answered their phone
    accepted_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    duration = models.PositiveIntegerField(null=True, blank=True)
    recording_sid = models.CharField(max_length=64, blank=True)
    recording_url = models.URLField(max_length=500, blank=True)
    recording_duration = models.PositiveIntegerField(null=True, blank=True)
    contact = models.ForeignKey("inbox.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="calls")
    conversation = models.ForeignKey(
        "inbox.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    # Call backs only: who tapped "Call back", and the phone we rang for them (E.164, as it was then: their
    # settings may change later). `caller` is the person called back; `phone_number` the caller id they saw.
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    operator_number = models.CharField(max_length=20, blank=True)
    # Why a call back could not be placed, in plain words (shown to the member and in the timeline).
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            # webhooks are idempotent by carrier id: a replayed or concurrent webhook finds this row
            models.UniqueConstraint(fields=["provider", "provider_call_id"], name="call_provider_id_uniq"),
        ]
        indexes = [
            # calls page: a business's calls, newest first
            models.Index(fields=["business", "-started_at"], name="call_business_started_idx"),
            # repeat-caller window: recent calls from one caller
            models.Index(fields=["business", "caller", "-started_at"], name="call_business_caller_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.caller or self.from_raw} → {self.phone_number} ({self.status})"

    @property
    def texted(self) -> bool:
        return self.decision == self.Decision.TEXTED

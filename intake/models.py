"""The caller-facing intake page: one unguessable link per conversation, and what the caller told us on it."""

import secrets

from django.db import models

from tenants.models import Business

INTAKE_FIELDS = (
    "name",
    "service_type",
    "description",
    "address",
    "zip_code",
    "urgency",
    "callback_window",
    "customer_type",
    "photos",
)
DEFAULT_SHOWN = list(INTAKE_FIELDS)
DEFAULT_REQUIRED = ["description"]
DEFAULT_DISCLOSURE = (
    "I agree that {business} may text me about this request, including follow-ups. Msg & data rates may apply. "
    "Reply STOP to opt out."
)
DEFAULT_CONFIRMATION = "Thanks! We've got your request and will get back to you as soon as we can."


def new_token() -> str:
    """96 random bits, URL-safe (16 characters): unguessable, short enough for a text."""
    return secrets.token_urlsafe(12)


class IntakeSettings(models.Model):
    """What a business asks on its intake page, and what it promises afterwards."""

    business = models.OneToOneField(Business, on_delete=models.CASCADE, related_name="intake_settings")
    fields_shown = models.JSONField(default=list)  # subset of INTAKE_FIELDS, in page order
    fields_required = models.JSONField(default=list)
    service_types = models.JSONField(default=list)  # the business's own words, e.g. ["Leak", "Water heater"]
    consent_enabled = models.BooleanField(default=True)
    disclosure_text = models.TextField(blank=True)  # {business} is replaced; blank uses DEFAULT_DISCLOSURE
    confirmation_text = models.TextField(blank=True)  # what happens next, in the business's words
    link_lifetime_days = models.PositiveSmallIntegerField(default=14)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "intake settings"

    def __str__(self) -> str:
        return f"Intake settings for {self.business}"


class IntakeLink(models.Model):
    """The short link texted to a caller: PUBLIC_BASE_URL/i/<token>. One per conversation."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="intake_links")
    conversation = models.OneToOneField("inbox.Conversation", on_delete=models.CASCADE, related_name="intake_link")
    token = models.CharField(max_length=32, unique=True, default=new_token)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    opened_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["business", "-created_at"], name="intakelink_business_idx")]

    def __str__(self) -> str:
        return self.token


class IntakeSubmission(models.Model):
    """What the caller told us. One per link, updated while the conversation is open."""

    class Urgency(models.TextChoices):
        EMERGENCY = "emergency", "Emergency — now"
        TODAY = "today", "Today"
        THIS_WEEK = "this_week", "This week"
        QUOTE = "quote", "Just a quote"

    class CustomerType(models.TextChoices):
        NEW = "new", "New customer"
        EXISTING = "existing", "Existing customer"

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="intake_submissions")
    link = models.OneToOneField(IntakeLink, on_delete=models.CASCADE, related_name="submission")
    conversation = models.ForeignKey("inbox.Conversation", on_delete=models.CASCADE, related_name="intake_submissions")
    name = models.CharField(max_length=120, blank=True)
    service_type = models.CharField(max_length=80, blank=True)
    description = models.TextField(blank=True, max_length=2000)
    address = models.CharField(max_length=200, blank=True)
    zip_code = models.CharField(max_length=10, blank=True)
    urgency = models.CharField(max_length=10, choices=Urgency.choices, blank=True)
    callback_window = models.CharField(max_length=80, blank=True)
    customer_type = models.CharField(max_length=10, choices=CustomerType.choices, blank=True)
    consent_given = models.BooleanField(default=False)
    consent_disclosure = models.TextField(blank=True)  # the exact words shown next to the checkbox
    language = models.CharField(max_length=5, default="en")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["business", "-created_at"], name="intakesub_business_idx"),
            # inbox search by the ZIP code a caller typed on the form
            models.Index(fields=["business", "zip_code"], name="intakesub_business_zip_idx"),
        ]

    def __str__(self) -> str:
        return f"Intake {self.pk} ({self.service_type or 'no service type'})"


class IntakePhoto(models.Model):
    """A photo the caller attached (size and type checked), stored through Django's storage."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="intake_photos")
    submission = models.ForeignKey(IntakeSubmission, on_delete=models.CASCADE, related_name="photos")
    file = models.FileField(upload_to="intake/%Y/%m/")
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["business", "submission"], name="intakephoto_business_idx")]

    def __str__(self) -> str:
        return self.file.name

"""Consent evidence and the audit trail. Kept for the TCPA limitation period (4 years); erasure removes a caller's
content but keeps what the law needs: the hashed number, the events and their times."""

import hashlib

from django.conf import settings
from django.db import models

from tenants.models import Business


def number_hash(business_id: int, e164: str) -> str:
    """A stable, business-scoped SHA-256 of a number, so an erased caller's opt-out is still honoured. (Phone
    numbers are low-entropy: this pseudonymises, it does not anonymise.)"""
    return hashlib.sha256(f"secdesk:{business_id}:{e164}".encode()).hexdigest()


class ConsentEvent(models.Model):
    """One fact about a number's consent to be texted by one business. The current state is the latest
    state-changing event (see STATE_KINDS); the contact's `opted_out` flag caches it."""

    class Kind(models.TextChoices):
        IMPLIED_BY_CALL = "implied_by_call", "Called the business (implied consent to a reply)"
        INTAKE_CONSENT = "intake_consent", "Agreed on the intake page"
        OPT_OUT = "opt_out", "Opted out"
        OPT_IN = "opt_in", "Opted back in"
        HELP = "help", "Asked for help"
        OPERATOR_RESTORE = "operator_restore", "Restored by an operator"
        CARRIER_BLOCK = "carrier_block", "Carrier reports opted out"

    STATE_KINDS = (Kind.OPT_OUT, Kind.OPT_IN, Kind.OPERATOR_RESTORE, Kind.CARRIER_BLOCK)
    OPTED_OUT_KINDS = (Kind.OPT_OUT, Kind.CARRIER_BLOCK)

    class Review(models.TextChoices):
        NONE = "", "Not needed"
        PENDING = "pending", "Waiting for review"
        CONFIRMED = "confirmed", "Confirmed as an opt-out"
        RESTORED = "restored", "Not an opt-out: restored"

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="consent_events")
    phone = models.CharField(max_length=20, blank=True)  # E.164; blanked on erasure
    phone_hash = models.CharField(max_length=64)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Where the event came from: the carrier's id survives erasure of the row it points to.
    source_ref = models.CharField(max_length=64, blank=True)  # CallSid, MessageSid, intake submission id
    call = models.ForeignKey("telephony.Call", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message = models.ForeignKey("messaging.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    disclosure_text = models.TextField(blank=True)  # the exact words shown when consent was given
    raw_text = models.TextField(blank=True)  # what the caller wrote; blanked on erasure
    matched = models.CharField(max_length=60, blank=True)  # the keyword or phrase that decided it
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )  # None for the caller or the system
    note = models.CharField(max_length=300, blank=True)
    review = models.CharField(max_length=10, choices=Review.choices, default=Review.NONE, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # suppression check and per-number ledger: a number's events, newest first
            models.Index(fields=["business", "phone_hash", "-created_at"], name="consent_business_number_idx"),
            # opt-out review queue
            models.Index(fields=["business", "review"], name="consent_business_review_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.phone or self.phone_hash[:12]}"


class AuditEvent(models.Model):
    """Who did what, when: operator actions on conversations and consent, and the rule behind automated sends."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="audit_events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )  # None: the system
    action = models.CharField(max_length=60)  # e.g. "consent.restore", "message.automated", "contact.erase"
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # audit page: a business's events, newest first
            models.Index(fields=["business", "-created_at"], name="audit_business_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id}"


class ComplianceSettings(models.Model):
    """A business's messaging-law choices and its US carrier registration facts (A2P 10DLC / toll-free)."""

    class BusinessType(models.TextChoices):
        COMPANY = "company", "Company (has an EIN)"
        SOLE_PROPRIETOR = "sole_proprietor", "Sole proprietor (no EIN)"

    business = models.OneToOneField(Business, on_delete=models.CASCADE, related_name="compliance_settings")
    textback_waits_for_quiet_hours = models.BooleanField(
        default=False,
        help_text="Also hold the immediate text-back during the caller's quiet hours. Off by default: it answers "
        "the caller's own call.",
    )
    retention_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Purge message text and recordings older than this. Empty keeps them."
    )
    legal_name = models.CharField(max_length=150, blank=True)
    business_type = models.CharField(max_length=20, choices=BusinessType.choices, blank=True)
    ein = models.CharField("EIN", max_length=20, blank=True)
    address = models.CharField(max_length=300, blank=True)
    website = models.URLField(blank=True)
    contact_email = models.EmailField(blank=True)
    campaign_description = models.TextField(blank=True)
    opt_in_description = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "compliance settings"

    def __str__(self) -> str:
        return f"Compliance settings for {self.business}"

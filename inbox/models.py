"""Contacts (callers, per business) and the conversations the inbox works."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from secdesk.phone import pretty
from tenants.models import Business


class Contact(models.Model):
    """A caller of one business, identified by their E.164 number."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="contacts")
    phone = models.CharField(max_length=20)  # E.164
    name = models.CharField(max_length=120, blank=True)
    zip_code = models.CharField(max_length=10, blank=True)
    # Cached from the consent ledger in the same transaction as the event; checked by every send.
    opted_out = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # missed-call handling finds the caller by (business, number); the constraint makes it race-free
            models.UniqueConstraint(fields=["business", "phone"], name="contact_business_phone_uniq"),
        ]

    def __str__(self) -> str:
        return self.name or pretty(self.phone)

    @property
    def display(self) -> str:
        return self.name or pretty(self.phone)


class Conversation(models.Model):
    """One thread with a caller. A contact has at most one open conversation at a time."""

    class Status(models.TextChoices):
        NEW = "new", "New"  # created by a missed call or a first text, nobody has acted yet
        OPEN = "open", "Open"  # being worked, waiting on the business
        WAITING = "waiting", "Waiting on caller"  # the business answered, the ball is with the caller
        SNOOZED = "snoozed", "Snoozed"  # hidden until snoozed_until
        BOOKED = "booked", "Booked"  # won: a job was booked
        LOST = "lost", "Lost"  # not won, with a reason
        CLOSED = "closed", "Closed"  # done without an outcome

    OPEN_STATUSES = (Status.NEW, Status.OPEN, Status.WAITING, Status.SNOOZED)

    class Priority(models.TextChoices):
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"
        URGENT = "urgent", "Urgent"

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="conversations")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="conversations")
    # The business number the caller dialled: replies go out from it.
    phone_number = models.ForeignKey(
        "telephony.PhoneNumber", null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    repeat_call_count = models.PositiveIntegerField(default=0)
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_outbound_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # one open thread per caller, so concurrent webhooks cannot fragment a conversation
            models.UniqueConstraint(
                fields=["business", "contact"],
                condition=Q(status__in=["new", "open", "waiting", "snoozed"]),
                name="conversation_one_open_per_contact",
            ),
        ]
        indexes = [
            # inbox list: a business's conversations by status, most recent activity first
            models.Index(fields=["business", "status", "-last_activity_at"], name="conv_business_status_idx"),
            # inbox list, every view but "Needs reply" (All, Mine, Unassigned, Urgent, Closed, ...): a business's
            # conversations newest activity first, id breaking ties, read in order from the keyset cursor with no sort
            models.Index(fields=["business", "-last_activity_at", "-id"], name="conv_business_activity_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.contact} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

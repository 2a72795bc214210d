"""Contacts (callers, per business) and the conversations the inbox works."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

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

    class LostReason(models.TextChoices):
        PRICE = "price", "Price"
        WENT_ELSEWHERE = "went_elsewhere", "Went with someone else"
        NO_RESPONSE = "no_response", "Caller stopped answering"
        OUT_OF_AREA = "out_of_area", "Outside our service area"
        NOT_A_FIT = "not_a_fit", "Not a job we do"
        SPAM = "spam", "Spam or wrong number"
        OTHER = "other", "Other"

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
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # first human response: the first reply or call back by a person (automatic texts do not count)
    first_response_at = models.DateTimeField(null=True, blank=True)
    booked_value = models.DecimalField("job value", max_digits=10, decimal_places=2, null=True, blank=True)
    lost_reason = models.CharField(max_length=20, choices=LostReason.choices, blank=True)
    lost_note = models.CharField(max_length=200, blank=True)
    tags = models.ManyToManyField("Tag", through="ConversationTag", blank=True, related_name="conversations")
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


class Tag(models.Model):
    """A label the business defines and puts on conversations (e.g. "warranty", "commercial")."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "business", name="tag_business_name_uniq"),
        ]

    def __str__(self) -> str:
        return self.name


class ConversationTag(models.Model):
    """A tag on a conversation. Explicit so the row carries the business and every read can be scoped by it."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="tag_links")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="conversation_links")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "tag"], name="conversation_tag_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.tag_id} on {self.conversation_id}"


class Note(models.Model):
    """An internal note on a conversation, never sent to the caller. `@name` mentions notify teammates."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="notes")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    mentions = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["conversation", "created_at"], name="note_conversation_idx")]

    def __str__(self) -> str:
        return f"Note by {self.author} on {self.conversation_id}"


class ConversationEvent(models.Model):
    """Something a person or a rule did to a conversation, shown in its timeline: assignments, status changes,
    snoozes, outcomes, priority and tag changes, escalations, call-backs."""

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", "Assigned"
        STATUS = "status", "Status changed"
        SNOOZED = "snoozed", "Snoozed"
        BOOKED = "booked", "Booked"
        LOST = "lost", "Lost"
        PRIORITY = "priority", "Priority changed"
        TAGS = "tags", "Tags changed"
        ESCALATED = "escalated", "Escalated"
        CALL_BACK = "call_back", "Call back"

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    # null: done by a rule or the system (e.g. round-robin assignment); `data` then names the rule
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # what changed, for display: {"from": ..., "to": ..., "rule": ..., "reason": ...}
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["conversation", "created_at"], name="convevent_conversation_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.conversation_id}"


class CannedReply(models.Model):
    """A saved reply the owner writes once and operators insert into the composer."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="canned_replies")
    title = models.CharField(max_length=60)
    body = models.TextField(max_length=1600)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        constraints = [
            models.UniqueConstraint(Lower("title"), "business", name="cannedreply_business_title_uniq"),
        ]

    def __str__(self) -> str:
        return self.title


class MemberSettings(models.Model):
    """One member's inbox preferences in one business: which alerts they get and how, and whether they are away
    (round-robin assignment skips members who are away)."""

    membership = models.OneToOneField(
        "tenants.Membership", on_delete=models.CASCADE, related_name="inbox_settings", primary_key=True
    )
    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="+")
    notify_new_conversation = models.BooleanField("a new conversation starts", default=True)
    notify_new_message = models.BooleanField(
        "a caller texts in a conversation assigned to me or to nobody", default=True
    )
    notify_urgent = models.BooleanField("a conversation becomes urgent", default=True)
    notify_mention = models.BooleanField("someone mentions me in a note", default=True)
    by_email = models.BooleanField("by email", default=True)
    by_sms = models.BooleanField("by text to my phone", default=False)
    away = models.BooleanField("away", default=False, help_text="Automatic assignment skips you while you are away.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Inbox settings of membership {self.membership_id}"


class Notification(models.Model):
    """One alert for one member, waiting to go out. A sweeper sends each member's due alerts as one email and one
    text, so a burst of messages is one alert, not a burst of them."""

    class Kind(models.TextChoices):
        NEW_CONVERSATION = "new_conversation", "New conversation"
        NEW_MESSAGE = "new_message", "New message"
        URGENT = "urgent", "Urgent"
        MENTION = "mention", "Mention"

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, null=True, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    text = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    # the batch goes out at the first due time among a member's pending alerts
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # the sweeper: pending alerts by due time
            models.Index(fields=["due_at"], condition=Q(sent_at__isnull=True), name="notification_pending_idx"),
            models.Index(fields=["business", "user", "-created_at"], name="notification_member_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.user_id}"


class RoutingSettings(models.Model):
    """How new conversations get an assignee."""

    class Mode(models.TextChoices):
        MANUAL = "manual", "Manual: operators pick conversations up themselves"
        ROUND_ROBIN = "round_robin", "Round robin among members who are not away"
        TERRITORY = "territory", "By ZIP code territory (round robin inside the territory)"

    business = models.OneToOneField(Business, on_delete=models.CASCADE, related_name="routing_settings")
    mode = models.CharField(max_length=12, choices=Mode.choices, default=Mode.MANUAL)
    # round robin: the member who got the last conversation; the next one goes to whoever follows them
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Routing of {self.business}: {self.mode}"


class Territory(models.Model):
    """A service area: ZIP codes or ZIP prefixes, and the members who take its conversations."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="territories")
    name = models.CharField(max_length=60)
    # "94107" matches one ZIP code, "941" every ZIP code starting with it; the longest match wins
    zip_prefixes = ArrayField(models.CharField(max_length=5), default=list)
    assignees = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "business", name="territory_business_name_uniq"),
        ]

    def __str__(self) -> str:
        return self.name

"""Contacts (callers, per business) and the conversations the inbox works."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Coalesce, Lower, Upper

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
        indexes = [
            # inbox search by name: trigrams of UPPER(name), the expression `icontains` compares on PostgreSQL
            GinIndex(F("business"), OpClass(Upper("name"), name="gin_trgm_ops"), name="contact_name_trgm_idx"),
            # inbox search by any run of 3+ digits of the number
            GinIndex(F("business"), OpClass(F("phone"), name="gin_trgm_ops"), name="contact_phone_trgm_idx"),
            # inbox search by ZIP code
            models.Index(fields=["business", "zip_code"], name="contact_business_zip_idx"),
        ]

    def __str__(self) -> str:
        return self.name or pretty(self.phone)

    @property
    def display(self) -> str:
        return self.name or pretty(self.phone)


# The inbox's "Needs reply" view: the ball is with the business. `new`: nobody has acted yet, so it needs a person
# even when the automatic text-back went out (a missed call sets no `last_inbound_at`, the text-back sets
# `last_outbound_at`). `open`: needs a reply when nothing was ever sent, or the caller's last message or form came
# after our last text. Defined here so the view's query and its partial index (below) are the same expressions,
# which is what lets PostgreSQL read the view straight from the index.
NEEDS_REPLY_Q = Q(status="new") | Q(
    Q(last_outbound_at__isnull=True) | Q(last_inbound_at__gt=F("last_outbound_at")), status="open"
)
# "Needs reply" order: urgent, then high, then normal; within a priority the longest waiting first (the caller's
# last message or form, or when the conversation started).
PRIORITY_RANK = Case(When(priority="urgent", then=Value(0)), When(priority="high", then=Value(1)), default=Value(2))
WAITING_SINCE = Coalesce("last_inbound_at", "created_at")


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
    # why it is urgent, shown on the conversation: the matched phrase, the intake answer or the repeat calls
    urgent_reason = models.CharField(max_length=200, blank=True)
    # the follow-up nudge went out (at most one per conversation)
    follow_up_sent_at = models.DateTimeField(null=True, blank=True)
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
            # inbox "Needs reply", in its order, and its count: partial, so it holds only what waits on the business
            models.Index(
                F("business"),
                PRIORITY_RANK,
                WAITING_SINCE,
                F("id"),
                condition=NEEDS_REPLY_Q,
                name="conv_needs_reply_idx",
            ),
            # inbox "Mine" and "Unassigned", and their counts: open conversations by assignee, newest activity first
            models.Index(
                fields=["business", "assignee", "-last_activity_at", "-id"],
                condition=Q(status__in=["new", "open", "waiting", "snoozed"]),
                name="conv_open_assignee_idx",
            ),
            # inbox "Urgent" and its count
            models.Index(
                fields=["business", "-last_activity_at", "-id"],
                condition=Q(priority="urgent", status__in=["new", "open", "waiting", "snoozed"]),
                name="conv_open_urgent_idx",
            ),
            # inbox "Closed" and its count (done conversations rarely change, so this costs writes little)
            models.Index(
                fields=["business", "-last_activity_at", "-id"],
                condition=Q(status__in=["booked", "lost", "closed"]),
                name="conv_closed_idx",
            ),
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
            models.UniqueConstraint(F("business"), Lower("name"), name="tag_business_name_uniq"),
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
            models.UniqueConstraint(F("business"), Lower("title"), name="cannedreply_business_title_uniq"),
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
        SLA = "sla", "Answer time missed"

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
            models.UniqueConstraint(F("business"), Lower("name"), name="territory_business_name_uniq"),
        ]

    def __str__(self) -> str:
        return self.name


# ---------------------------------------------------------------------------------------------------------------
# Urgency, on-call paging, SLA timers and follow-ups.


class ResponseSettings(models.Model):
    """How a business wants urgent cases and slow answers handled: what counts as urgent, who is paged and when
    the next person is, how fast a caller should hear back, and the one follow-up nudge."""

    business = models.OneToOneField(Business, on_delete=models.CASCADE, related_name="response_settings")
    # urgency
    trades = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    extra_phrases = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    ignore_phrases = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    repeat_calls = models.PositiveSmallIntegerField(
        default=3, help_text="This many calls from one caller inside the window make a conversation urgent."
    )
    repeat_window_minutes = models.PositiveSmallIntegerField(default=30)
    # paging
    paging_enabled = models.BooleanField(default=True)
    ack_minutes = models.PositiveSmallIntegerField(
        default=5, help_text="Page the next person when nobody acknowledges within this many minutes."
    )
    backup = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # the weekly on-call rotation hands over at this local weekday (0 = Monday) and hour
    rotation_start = models.DateField(null=True, blank=True)
    handover_weekday = models.PositiveSmallIntegerField(default=0)
    handover_hour = models.PositiveSmallIntegerField(default=8)
    # answer-time targets
    sla_enabled = models.BooleanField(default=True)
    sla_open_minutes = models.PositiveSmallIntegerField(
        default=15, help_text="During business hours: how long a caller may wait for a person."
    )
    sla_closed_minutes = models.PositiveSmallIntegerField(
        default=15, help_text="After hours: how long after the next opening."
    )
    # follow-up nudge
    follow_up_enabled = models.BooleanField(default=True)
    follow_up_delay_minutes = models.PositiveIntegerField(default=120)
    follow_up_template = models.TextField(blank=True)
    # territory routing: the reply to a caller outside every territory (blank: none is sent)
    out_of_area_reply = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Response settings of {self.business}"


class OnCallMember(models.Model):
    """One place in the business's weekly on-call rotation."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="on_call_rotation")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["business", "position"], name="oncall_business_position_uniq"),
            models.UniqueConstraint(fields=["business", "user"], name="oncall_business_user_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.user} (week {self.position + 1})"


class OnCallOverride(models.Model):
    """Someone covers on-call for a stretch of time (holiday swaps, sick days), over the rotation."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="on_call_overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    note = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at"]
        indexes = [models.Index(fields=["business", "ends_at"], name="oncall_override_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="oncall_override_order"),
        ]

    def __str__(self) -> str:
        return f"{self.user} on call {self.starts_at:%Y-%m-%d %H:%M} to {self.ends_at:%Y-%m-%d %H:%M}"


class Escalation(models.Model):
    """One run of the escalation chain for an urgent conversation: on-call, then backup, then the owners, until
    someone acknowledges."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Paging"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        EXHAUSTED = "exhausted", "Nobody acknowledged"
        CANCELLED = "cancelled", "Cancelled"

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="escalations")
    reason = models.CharField(max_length=200)
    # the people to page, in order, fixed when the chain starts: [user id, ...]
    chain = ArrayField(models.IntegerField(), default=list)
    step = models.PositiveSmallIntegerField(default=0)  # index into `chain` of the person paged last
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default=Outcome.RUNNING)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    ack_code = models.CharField(max_length=8)  # the code in the page's link and reply ("ACK 4821")
    is_test = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # one running chain per conversation: a second urgent text joins the running one
            models.UniqueConstraint(
                fields=["conversation"], condition=Q(outcome="running"), name="escalation_one_running"
            ),
        ]
        indexes = [models.Index(fields=["business", "-created_at"], name="escalation_business_idx")]

    def __str__(self) -> str:
        return f"Escalation of {self.conversation_id} ({self.outcome})"


class Page(models.Model):
    """One page sent to one person in an escalation."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="+")
    escalation = models.ForeignKey(Escalation, on_delete=models.CASCADE, related_name="pages")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    step = models.PositiveSmallIntegerField()
    message = models.ForeignKey("messaging.Message", null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["escalation", "step"], name="page_escalation_step_uniq")]

    def __str__(self) -> str:
        return f"Page {self.step} of escalation {self.escalation_id}"


class Timer(models.Model):
    """Something to do at a time: page the next person, remind about a slow answer, nudge a quiet caller. Fired
    by the sweeper exactly once (the row is locked and marked in the transaction that acts), cancelled in the
    transaction of whatever makes it moot. Never a Celery countdown: a row survives Redis and worker restarts."""

    class Kind(models.TextChoices):
        ESCALATE = "escalate", "Page the next person"
        SLA_ASSIGNEE = "sla_assignee", "Answer-time reminder"
        SLA_OWNER = "sla_owner", "Answer-time escalation to the owner"
        FOLLOW_UP = "follow_up", "Follow-up text to the caller"

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="timers")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    escalation = models.ForeignKey(Escalation, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    due_at = models.DateTimeField()
    fired_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=60, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # the sweeper: pending timers by due time (cross-tenant on purpose, like the outbound sweeper)
            models.Index(
                fields=["due_at"], condition=Q(fired_at__isnull=True, cancelled_at__isnull=True), name="timer_due_idx"
            ),
            models.Index(fields=["conversation", "kind"], name="timer_conversation_idx"),
        ]
        constraints = [
            # at most one pending timer of a kind per conversation (and per escalation step for pages)
            models.UniqueConstraint(
                fields=["conversation", "kind"],
                condition=Q(fired_at__isnull=True, cancelled_at__isnull=True),
                name="timer_one_pending_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.conversation_id} at {self.due_at:%Y-%m-%d %H:%M}"

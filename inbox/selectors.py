"""Reads for the inbox: the conversation list (views, counts, search, keyset pages) and one conversation's
history as a single timeline."""

import binascii
import datetime as dt
import json
import operator
import re
from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

from django.db.models import (
    BooleanField,
    Count,
    Exists,
    Expression,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Value,
)
from django.db.models.functions import JSONObject, Left

from compliance.models import ConsentEvent, number_hash
from inbox.models import (
    NEEDS_REPLY_Q,
    PRIORITY_RANK,
    WAITING_SINCE,
    Conversation,
    ConversationEvent,
    ConversationTag,
    Note,
    Tag,
)
from intake.forms import ZIP_RE
from intake.models import IntakePhoto, IntakeSubmission
from intake.services import submission_summary
from messaging.models import Message
from telephony.models import Call
from tenants.models import Business

# Shown as <img> in the timeline; other stored media types are offered as links.
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


@dataclass(frozen=True)
class MediaItem:
    index: int  # position in Message.media: the `message_media` URL addresses items by it
    content_type: str
    is_image: bool


@dataclass(frozen=True)
class TimelineItem:
    kind: str  # "call", "message", "intake", "consent", "note" or "event": picks the template block
    at: dt.datetime
    obj: Any
    # intake: the summary as lines; message: its stored media
    lines: list[str] = field(default_factory=list)
    media: list[MediaItem] = field(default_factory=list)


# Same instant: the call comes first (it caused the text-back), then texts, the form, consent facts, and what
# the team did.
_KIND_ORDER = {"call": 0, "message": 1, "intake": 2, "consent": 3, "event": 4, "note": 5}


def _stored_media(message: Message) -> list[MediaItem]:
    items = []
    for index, item in enumerate(message.media if isinstance(message.media, list) else []):
        if isinstance(item, dict) and item.get("stored"):
            content_type = (item.get("content_type") or "").split(";")[0].strip().lower()
            items.append(MediaItem(index=index, content_type=content_type, is_image=content_type in IMAGE_TYPES))
    return items


def _consent_events(conversation: Conversation):
    """Consent is kept per number, not per conversation: show the events tied to this conversation's calls and
    texts, and the number's other events from while the conversation was running (e.g. intake consent)."""
    during = Q(created_at__gte=conversation.created_at)
    if conversation.closed_at is not None:
        during &= Q(created_at__lte=conversation.closed_at)
    return ConsentEvent.objects.filter(
        Q(call__conversation=conversation) | Q(message__conversation=conversation) | during,
        business_id=conversation.business_id,
        phone_hash=number_hash(conversation.business_id, conversation.contact.phone),
    ).order_by("created_at", "id")


_STATUS_LABELS = dict(Conversation.Status.choices)
_PRIORITY_LABELS = dict(Conversation.Priority.choices)
_LOST_LABELS = dict(Conversation.LostReason.choices)


def _prepare_event(event: ConversationEvent) -> None:
    """Readable values for the template from the event's stored data (which keeps raw values for exports)."""
    data = event.data if isinstance(event.data, dict) else {}
    event.from_label = _STATUS_LABELS.get(data.get("from")) or _PRIORITY_LABELS.get(data.get("from"), "")
    event.to_label = _STATUS_LABELS.get(data.get("to")) or _PRIORITY_LABELS.get(data.get("to"), "")
    event.reason_label = _LOST_LABELS.get(data.get("reason"), "")
    event.until = None
    if data.get("until"):
        try:
            event.until = dt.datetime.fromisoformat(data["until"])
        except (TypeError, ValueError):
            event.until = None


# The conversation page shows this many of the latest timeline items; "Show everything" lifts the cap. A thread of
# 1,500 texts would otherwise spend a third of a second rendering bubbles nobody scrolls back to.
TIMELINE_LIMIT = 40
TIMELINE_MAX = 5000


class Timeline(list):
    """Timeline items, oldest first; `has_earlier` when older items were left out by the limit."""

    has_earlier = False


def conversation_timeline(*, conversation: Conversation, limit: int = TIMELINE_LIMIT) -> Timeline:
    """What happened in `conversation`, oldest first: calls, texts, intake submissions (with their photos), consent
    events, notes (with their mentions) and the team's actions (assignments, status changes, snoozes, outcomes,
    escalations, call-backs); the latest `limit` of them. Eight queries whatever the size (the conversation's
    contact must be loaded), each reading at most `limit` rows. Every query is scoped by the conversation's
    business as well as the conversation."""
    business_id = conversation.business_id
    items = Timeline()
    fetched = limit + 1  # one more than shown: tells whether anything older exists
    calls = Call.objects.filter(business_id=business_id, conversation=conversation).select_related("placed_by")
    for call in calls.order_by("-started_at", "-id")[:fetched]:
        items.append(TimelineItem(kind="call", at=call.started_at, obj=call))
    messages = Message.objects.filter(business_id=business_id, conversation=conversation).select_related("sent_by")
    for message in messages.order_by("-created_at", "-id")[:fetched]:
        items.append(TimelineItem(kind="message", at=message.created_at, obj=message, media=_stored_media(message)))
    submissions = (
        IntakeSubmission.objects.filter(business_id=business_id, conversation=conversation)
        .prefetch_related(
            Prefetch("photos", queryset=IntakePhoto.objects.filter(business_id=business_id).order_by("id"))
        )
        .order_by("-created_at", "-id")[:fetched]
    )
    for submission in submissions:
        # submission_summary counts photos through the prefetched set: no extra query
        lines = submission_summary(submission).splitlines()
        items.append(TimelineItem(kind="intake", at=submission.created_at, obj=submission, lines=lines))
    for event in _consent_events(conversation).reverse()[:fetched]:
        items.append(TimelineItem(kind="consent", at=event.created_at, obj=event))
    notes = (
        Note.objects.filter(business_id=business_id, conversation=conversation)
        .select_related("author")
        .prefetch_related("mentions")
        .order_by("-created_at", "-id")[:fetched]
    )
    for note in notes:
        items.append(TimelineItem(kind="note", at=note.created_at, obj=note))
    events = (
        ConversationEvent.objects.filter(business_id=business_id, conversation=conversation)
        .select_related("actor")
        .order_by("-created_at", "-id")[:fetched]
    )
    for event in events:
        _prepare_event(event)
        items.append(TimelineItem(kind="event", at=event.created_at, obj=event))
    items.sort(key=lambda item: (item.at, _KIND_ORDER[item.kind], item.obj.pk))
    if len(items) > limit:
        del items[: len(items) - limit]
        items.has_earlier = True
    return items


# ---------------------------------------------------------------------------------------------------------------
# The inbox list: views, counts, search and keyset pagination.
#
# Sized for a business with 100k conversations and 1M messages (bench/inbox_scale.py, docs/performance.md): each
# view's page and count read that view's own index in order (see Conversation.Meta), so page 4,000 costs what
# page 1 does, and a search looks each kind of match up through its own index.

INBOX_PAGE_SIZE = 25
NEEDS_REPLY = "needs_reply"
# Counting a view stops here: an operator reads "10,000+" the way they would read 84,233, and counting every row
# of the large views (All, Closed) would cost more than the rest of the page, on every page and live refresh.
COUNT_CAP = 10_000
# While searching, counting stops at this many matching conversations: a search matching more needs narrowing,
# not a number, and a common word ("water heater") would otherwise have every match counted.
SEARCH_COUNT_CAP = 50
# Names and message text are searched from 3 characters: the trigram indexes behind substring search cannot look
# up anything shorter, and a letter or two matches most of the inbox anyway.
SEARCH_MIN_CHARS = 3
# How people write phone numbers: digits, spaces and + ( ) - . only.
_PHONE_SHAPED = re.compile(r"^[0-9\s+().-]+$")

# Statuses where the business still has work to do (the workload views only look at these).
_ACTIVE = list(Conversation.OPEN_STATUSES)
_CLOSED = [Conversation.Status.BOOKED, Conversation.Status.LOST, Conversation.Status.CLOSED]


@dataclass(frozen=True)
class InboxView:
    key: str
    label: str
    # (conversation filter given the member) -> Q
    where: Callable[[Any], Q]


INBOX_VIEWS: tuple[InboxView, ...] = (
    InboxView(NEEDS_REPLY, "Needs reply", lambda user: NEEDS_REPLY_Q),
    InboxView("mine", "Mine", lambda user: Q(assignee=user, status__in=_ACTIVE)),
    InboxView("unassigned", "Unassigned", lambda user: Q(assignee__isnull=True, status__in=_ACTIVE)),
    InboxView("urgent", "Urgent", lambda user: Q(priority=Conversation.Priority.URGENT, status__in=_ACTIVE)),
    InboxView("snoozed", "Snoozed", lambda user: Q(status=Conversation.Status.SNOOZED)),
    InboxView("closed", "Closed", lambda user: Q(status__in=_CLOSED)),
    InboxView("all", "All", lambda user: Q()),
)
INBOX_VIEWS_BY_KEY = {view.key: view for view in INBOX_VIEWS}


class ViewCount(int):
    """How many conversations a view holds. `at_least`: counting stopped at a cap, so the view holds this many or
    more; it prints as "10,000+" (the tabs show it as is)."""

    at_least: bool

    def __new__(cls, value: int, *, at_least: bool = False):
        count = super().__new__(cls, value)
        count.at_least = at_least
        return count

    def __str__(self) -> str:
        return f"{int(self):,}+" if self.at_least else str(int(self))


def inbox_search_sources(*, business_id: int, q: str) -> list[Q | Exists]:
    """Where conversations matching `q` come from, one condition per source, each using its own index:
    - the caller: name (from 3 characters), number (when `q` is 3 or more digits written the way phone numbers
      are, compared on digits, so "(415) 555-0100", "415.555.0100", "+14155550100" and "0100" all match; the
      digits of "5047 Birch Blvd" are an address, not a number) and, when `q` is a ZIP code, their ZIP;
    - an intake form's ZIP code, when `q` is a ZIP code (forms only store ZIP-shaped values);
    - the text of any message in the conversation (from 3 characters), except the team's own alerts.
    Empty when nothing can match (e.g. "ab"). Every subquery is scoped to the business."""
    q = q.strip()[:100]
    caller = []
    if len(q) >= SEARCH_MIN_CHARS:
        caller.append(Q(contact__name__icontains=q))
    digits = re.sub(r"\D", "", q)
    # E.164 is "+" and digits, so the typed digits are a substring of a matching number
    if len(digits) >= 3 and _PHONE_SHAPED.match(q):
        caller.append(Q(contact__phone__contains=digits))
    is_zip = ZIP_RE.match(q) is not None
    if is_zip:
        caller.append(Q(contact__zip_code=q))
    # the contact's own business too, so its indexes (which start with the business) are read from the right place
    sources: list[Q | Exists] = [Q(reduce(operator.or_, caller), contact__business_id=business_id)] if caller else []
    if is_zip:
        sources.append(
            Exists(IntakeSubmission.objects.filter(business_id=business_id, conversation=OuterRef("pk"), zip_code=q))
        )
    if len(q) >= SEARCH_MIN_CHARS:
        sources.append(
            Exists(
                Message.objects.filter(business_id=business_id, conversation=OuterRef("pk"), body__icontains=q).exclude(
                    kind=Message.Kind.NOTIFICATION
                )
            )
        )
    return sources


def _first_matching(rows, sources: list, limit: int):
    """The ids of the first `limit` conversations of `rows` (filtered, and ordered when the order matters) that
    match any of `sources`: one branch per source, each with its own LIMIT, united. Each branch is planned on its
    own, so PostgreSQL walks the view in order for a common word and looks a rare one up in its index first; one
    OR across the sources would make it check every conversation of the view against every source instead."""
    branches = [rows.filter(source).values("pk")[:limit] for source in sources]
    return branches[0].union(*branches[1:]) if len(branches) > 1 else branches[0]


class _CappedCount(Subquery):
    """`SELECT count(*)` over a sliced queryset: counts at most its LIMIT rows, reading them straight from the
    view's index (an index-only scan) instead of every row of a large view."""

    template = "(SELECT count(*) FROM (%(subquery)s) AS capped)"
    output_field = IntegerField()


def inbox_counts(*, business_id: int, user, q: str = "") -> dict[str, ViewCount]:
    """The number of conversations in every inbox view, narrowed by the search if any, in one query. Counts stop
    at COUNT_CAP (SEARCH_COUNT_CAP while searching); a count that stopped is `at_least`. While searching, once the
    matches reach the cap every view's count is a lower bound, counted among the matches found first."""
    conversations = Conversation.objects.filter(business_id=business_id)
    if q.strip():
        sources = inbox_search_sources(business_id=business_id, q=q)
        if not sources:
            return {view.key: ViewCount(0) for view in INBOX_VIEWS}
        # any SEARCH_COUNT_CAP matches will do, not the newest: unordered, each branch stops at the cheapest ones
        matches = conversations.filter(pk__in=_first_matching(conversations, sources, SEARCH_COUNT_CAP))
        counts = matches.aggregate(**{view.key: Count("pk", filter=view.where(user)) for view in INBOX_VIEWS})
        capped = counts["all"] >= SEARCH_COUNT_CAP
        return {key: ViewCount(value, at_least=capped) for key, value in counts.items()}
    counts = (
        Business.objects.filter(pk=business_id)
        .values(
            **{
                view.key: _CappedCount(conversations.filter(view.where(user)).values("pk")[: COUNT_CAP + 1])
                for view in INBOX_VIEWS
            }
        )
        .get()
    )
    return {key: ViewCount(min(value, COUNT_CAP), at_least=value > COUNT_CAP) for key, value in counts.items()}


@dataclass(frozen=True)
class InboxPage:
    rows: list[Conversation]
    next_cursor: str | None  # None on the last page


def _encode_cursor(values: list) -> str:
    return urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def _aware(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError("cursor times carry their offset")
    return value


def _decode_cursor(cursor: str, *, needs_reply: bool) -> tuple | None:
    """The position after which the next page starts, or None for a missing or malformed cursor (first page)."""
    try:
        values = json.loads(urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if needs_reply:
            rank, at, pk = values
            return int(rank), _aware(at), int(pk)
        at, pk = values
        return _aware(at), int(pk)
    except (ValueError, TypeError, OverflowError, binascii.Error):
        return None


class _RowsAfter(Expression):
    """`(a, b, c) > (x, y, z)` (or `<`): PostgreSQL compares the rows column by column, in order, and starts an
    index scan there when the columns follow the index; the same condition spelled as ORs is checked row by row."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, columns: list[str], values: list, *, descending: bool):
        super().__init__()
        self.columns = [F(column) for column in columns]
        self.values = [Value(value) for value in values]
        self.operator = "<" if descending else ">"

    def get_source_expressions(self):
        return [*self.columns, *self.values]

    def set_source_expressions(self, exprs):
        self.columns, self.values = exprs[: len(self.columns)], exprs[len(self.columns) :]

    def as_sql(self, compiler, connection):
        parts, params = [], []
        for expression in self.get_source_expressions():
            sql, expression_params = compiler.compile(expression)
            parts.append(sql)
            params.extend(expression_params)
        columns, values = ", ".join(parts[: len(self.columns)]), ", ".join(parts[len(self.columns) :])
        return f"(({columns}) {self.operator} ({values}))", params


def inbox_page(*, business_id: int, user, view: str = NEEDS_REPLY, q: str = "", cursor: str = "") -> InboxPage:
    """One page of an inbox view, with keyset pagination (no OFFSET: page 4,000 costs the same as page 1).

    Order, always total because the id breaks ties:
    - "Needs reply": urgent first, then high, then normal; within a priority the longest waiting first
      (`waiting_since` = the caller's last message or form, or when the conversation started), then id.
    - every other view: most recent activity first, then the highest id.

    A search takes the first page's worth of each source's matches in that order and keeps the first of them
    (see `_first_matching`). Each row carries its contact and assignee, `waiting_since`, `needs_reply`, the last
    message (excerpt and direction) and the latest intake submission's service type and urgency, all in the
    page's one query."""
    needs_reply = view == NEEDS_REPLY
    if needs_reply:
        columns, descending = ["priority_rank", "waiting_since", "id"], False
        keys = {"priority_rank": PRIORITY_RANK, "waiting_since": WAITING_SINCE}
    else:
        columns, descending = ["last_activity_at", "id"], True
        keys = {}
    order = [f"-{column}" if descending else column for column in columns]
    rows = (
        Conversation.objects.filter(INBOX_VIEWS_BY_KEY[view].where(user), business_id=business_id)
        .annotate(**keys)
        .order_by(*order)
    )
    position = _decode_cursor(cursor, needs_reply=needs_reply) if cursor else None
    if position is not None:
        rows = rows.filter(_RowsAfter(columns, list(position), descending=descending))
    if q.strip():
        sources = inbox_search_sources(business_id=business_id, q=q)
        if not sources:
            return InboxPage(rows=[], next_cursor=None)
        matching = _first_matching(rows, sources, INBOX_PAGE_SIZE + 1)
        rows = Conversation.objects.filter(business_id=business_id, pk__in=matching).annotate(**keys).order_by(*order)
    # the last message and the latest intake form, two columns each, read with one subquery each
    last_message = (
        Message.objects.filter(business_id=business_id, conversation=OuterRef("pk"))
        .exclude(kind=Message.Kind.NOTIFICATION)
        .order_by("-created_at", "-id")
        .values(json=JSONObject(excerpt=Left("body", 140), direction="direction"))
    )
    last_intake = (
        IntakeSubmission.objects.filter(business_id=business_id, conversation=OuterRef("pk"))
        .order_by("-created_at", "-id")
        .values(json=JSONObject(service_type="service_type", urgency="urgency"))
    )
    rows = rows.select_related("contact", "assignee").annotate(
        **({} if needs_reply else {"waiting_since": WAITING_SINCE}),
        needs_reply=ExpressionWrapper(NEEDS_REPLY_Q, output_field=BooleanField()),
        last_message=Subquery(last_message[:1]),
        last_intake=Subquery(last_intake[:1]),
    )
    rows = list(rows[: INBOX_PAGE_SIZE + 1])
    next_cursor = None
    if len(rows) > INBOX_PAGE_SIZE:
        rows = rows[:INBOX_PAGE_SIZE]
        last = rows[-1]
        if needs_reply:
            next_cursor = _encode_cursor([last.priority_rank, last.waiting_since.isoformat(), last.pk])
        else:
            next_cursor = _encode_cursor([last.last_activity_at.isoformat(), last.pk])
    for row in rows:
        message, intake = row.last_message or {}, row.last_intake or {}
        row.last_message_excerpt = message.get("excerpt", "")
        row.last_message_direction = message.get("direction", "")
        row.intake_service_type = intake.get("service_type", "")
        row.intake_urgency = intake.get("urgency", "")
        row.intake_urgency_label = IntakeSubmission.Urgency(row.intake_urgency).label if row.intake_urgency else ""
    return InboxPage(rows=rows, next_cursor=next_cursor)


def waiting_label(*, since: dt.datetime, now: dt.datetime) -> str:
    """How long a caller has waited, as an operator reads it at a glance: "waiting 12 min", "waiting 3 h 5 min",
    "waiting 2 d"."""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 1:
        return "waiting <1 min"
    if minutes < 60:
        return f"waiting {minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 24:
        return f"waiting {hours} h {rest} min" if rest else f"waiting {hours} h"
    return f"waiting {hours // 24} d"


# ---------------------------------------------------------------------------------------------------------------
# The conversation page around the timeline.

PRESENCE_WINDOW = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class Presence:
    """The latest thing a teammate did in the conversation, so nobody answers twice ("Sam replied 10 s ago")."""

    who: str
    did: str
    at: dt.datetime


def teammate_presence(*, timeline: list[TimelineItem], user, now: dt.datetime) -> Presence | None:
    """The most recent action of another person (a reply, a note, a call back, an assignment or status change)
    within the last 15 minutes, from the timeline already loaded: no query."""
    for item in reversed(timeline):
        if now - item.at > PRESENCE_WINDOW:
            return None
        obj = item.obj
        person, did = None, ""
        if item.kind == "message" and obj.sent_by_id:
            person, did = obj.sent_by, "replied"
        elif item.kind == "note":
            person, did = obj.author, "added a note"
        elif item.kind == "call" and getattr(obj, "placed_by_id", None):
            person, did = obj.placed_by, "called back"
        elif item.kind == "event" and obj.actor_id:
            person, did = obj.actor, "updated this conversation"
        if person is not None and person.pk != user.pk:
            return Presence(who=person.full_name or person.email, did=did, at=item.at)
    return None


@dataclass(frozen=True)
class ThreadSidebar:
    members: list  # users of the business, for "assign to"
    tags: list  # the conversation's tags
    business_tags: list  # every tag the business has, offered as suggestions
    past: list  # the caller's other conversations, newest first
    consent: str  # "ok" or "opted_out"


def thread_sidebar(*, conversation: Conversation) -> ThreadSidebar:
    """What the conversation page shows beside the timeline, in four queries whatever the business's size:
    team members, tags (the conversation's and the business's in one), the caller's other conversations and
    their consent state."""
    from compliance.services import consent_state
    from tenants.models import User

    business = conversation.business
    from inbox.actions import mention_handle

    members = list(User.objects.filter(memberships__business_id=business.pk).order_by("full_name", "email").distinct())
    for member in members:
        member.handle = mention_handle(member)
    tags = list(
        Tag.objects.filter(business_id=business.pk).annotate(
            on_conversation=Exists(
                ConversationTag.objects.filter(business_id=business.pk, conversation=conversation, tag=OuterRef("pk"))
            )
        )
    )
    past = list(
        Conversation.objects.filter(business_id=business.pk, contact_id=conversation.contact_id)
        .exclude(pk=conversation.pk)
        .order_by("-created_at")[:10]
    )
    return ThreadSidebar(
        members=members,
        tags=[tag for tag in tags if tag.on_conversation],
        business_tags=tags,
        past=past,
        consent=consent_state(business=business, phone=conversation.contact.phone),
    )

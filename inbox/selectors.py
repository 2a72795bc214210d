"""Reads for the inbox: the conversation list (views, counts, search, keyset pages) and one conversation's
history as a single timeline."""

import binascii
import datetime as dt
import json
import re
from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Left

from compliance.models import ConsentEvent, number_hash
from inbox.models import Conversation
from intake.models import IntakePhoto, IntakeSubmission
from intake.services import submission_summary
from messaging.models import Message
from telephony.models import Call

# Shown as <img> in the timeline; other stored media types are offered as links.
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


@dataclass(frozen=True)
class MediaItem:
    index: int  # position in Message.media: the `message_media` URL addresses items by it
    content_type: str
    is_image: bool


@dataclass(frozen=True)
class TimelineItem:
    kind: str  # "call", "message", "intake" or "consent": picks the template block
    at: dt.datetime
    obj: Any
    # intake: the summary as lines; message: its stored media
    lines: list[str] = field(default_factory=list)
    media: list[MediaItem] = field(default_factory=list)


# Same instant: the call comes first (it caused the text-back), then texts, the form and consent facts.
_KIND_ORDER = {"call": 0, "message": 1, "intake": 2, "consent": 3}


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


def conversation_timeline(*, conversation: Conversation) -> list[TimelineItem]:
    """Everything that happened in `conversation`, oldest first: calls, texts, intake submissions (with their
    photos) and consent events. Five queries whatever the size (the conversation's contact must be loaded).
    Every query is scoped by the conversation's business as well as the conversation."""
    business_id = conversation.business_id
    items: list[TimelineItem] = []
    for call in Call.objects.filter(business_id=business_id, conversation=conversation).order_by("started_at"):
        items.append(TimelineItem(kind="call", at=call.started_at, obj=call))
    for message in Message.objects.filter(business_id=business_id, conversation=conversation).order_by(
        "created_at", "id"
    ):
        items.append(TimelineItem(kind="message", at=message.created_at, obj=message, media=_stored_media(message)))
    submissions = IntakeSubmission.objects.filter(business_id=business_id, conversation=conversation).prefetch_related(
        Prefetch("photos", queryset=IntakePhoto.objects.filter(business_id=business_id).order_by("id"))
    )
    for submission in submissions:
        # submission_summary counts photos through the prefetched set: no extra query
        lines = submission_summary(submission).splitlines()
        items.append(TimelineItem(kind="intake", at=submission.created_at, obj=submission, lines=lines))
    for event in _consent_events(conversation):
        items.append(TimelineItem(kind="consent", at=event.created_at, obj=event))
    items.sort(key=lambda item: (item.at, _KIND_ORDER[item.kind]))
    return items


# ---------------------------------------------------------------------------------------------------------------
# The inbox list: views, counts, search and keyset pagination.

INBOX_PAGE_SIZE = 25
NEEDS_REPLY = "needs_reply"

# Statuses where the business still has work to do (the workload views only look at these).
_ACTIVE = list(Conversation.OPEN_STATUSES)
_CLOSED = [Conversation.Status.BOOKED, Conversation.Status.LOST, Conversation.Status.CLOSED]

# The ball is with the business. `new`: nobody has acted yet, so it needs a person even when the automatic
# text-back went out (a missed call sets no `last_inbound_at`, the text-back sets `last_outbound_at`). `open`:
# needs a reply when nothing was ever sent, or the caller's last message or form came after our last text.
_NEEDS_REPLY_Q = Q(status=Conversation.Status.NEW) | Q(
    Q(last_outbound_at__isnull=True) | Q(last_inbound_at__gt=F("last_outbound_at")), status=Conversation.Status.OPEN
)


@dataclass(frozen=True)
class InboxView:
    key: str
    label: str
    # (conversation filter given the member) -> Q
    where: Callable[[Any], Q]


INBOX_VIEWS: tuple[InboxView, ...] = (
    InboxView(NEEDS_REPLY, "Needs reply", lambda user: _NEEDS_REPLY_Q),
    InboxView("mine", "Mine", lambda user: Q(assignee=user, status__in=_ACTIVE)),
    InboxView("unassigned", "Unassigned", lambda user: Q(assignee__isnull=True, status__in=_ACTIVE)),
    InboxView("urgent", "Urgent", lambda user: Q(priority=Conversation.Priority.URGENT, status__in=_ACTIVE)),
    InboxView("snoozed", "Snoozed", lambda user: Q(status=Conversation.Status.SNOOZED)),
    InboxView("closed", "Closed", lambda user: Q(status__in=_CLOSED)),
    InboxView("all", "All", lambda user: Q()),
)
INBOX_VIEWS_BY_KEY = {view.key: view for view in INBOX_VIEWS}


def inbox_search_q(*, business_id: int, q: str) -> Q:
    """Conversations matching `q`: the caller's number (compared on digits, so "(415) 555-0100", "415.555.0100"
    and "+14155550100" all match), the contact's name, the contact's or an intake form's ZIP code, or the text of
    any message in the conversation. Every subquery is scoped to the business."""
    q = q.strip()[:100]
    if not q:
        return Q()
    match = Q(contact__name__icontains=q) | Q(contact__zip_code__iexact=q)
    digits = re.sub(r"\D", "", q)
    if len(digits) >= 3:  # E.164 is "+" and digits, so the typed digits are a substring of a matching number
        match |= Q(contact__phone__contains=digits)
    match |= Exists(IntakeSubmission.objects.filter(business_id=business_id, conversation=OuterRef("pk"), zip_code=q))
    match |= Exists(
        Message.objects.filter(business_id=business_id, conversation=OuterRef("pk"), body__icontains=q).exclude(
            kind=Message.Kind.NOTIFICATION
        )
    )
    return match


def inbox_counts(*, business_id: int, user, q: str = "") -> dict[str, int]:
    """The number of conversations in every inbox view (narrowed by the search, if any), in one query."""
    return Conversation.objects.filter(inbox_search_q(business_id=business_id, q=q), business_id=business_id).aggregate(
        **{view.key: Count("pk", filter=view.where(user)) for view in INBOX_VIEWS}
    )


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


def inbox_page(*, business_id: int, user, view: str = NEEDS_REPLY, q: str = "", cursor: str = "") -> InboxPage:
    """One page of an inbox view, with keyset pagination (no OFFSET: page 4,000 costs the same as page 1).

    Order, always total because the id breaks ties:
    - "Needs reply": urgent first, then high, then normal; within a priority the longest waiting first
      (`waiting_since` = the caller's last message or form, or when the conversation started), then id.
    - every other view: most recent activity first, then the highest id.

    Each row carries its contact and assignee, `waiting_since`, `needs_reply`, the last message (excerpt and
    direction) and the latest intake submission's service type and urgency, all in the page's one query."""
    needs_reply = view == NEEDS_REPLY
    where = INBOX_VIEWS_BY_KEY[view].where(user)
    last_message = (
        Message.objects.filter(business_id=business_id, conversation=OuterRef("pk"))
        .exclude(kind=Message.Kind.NOTIFICATION)
        .order_by("-created_at", "-id")
    )
    last_intake = IntakeSubmission.objects.filter(business_id=business_id, conversation=OuterRef("pk")).order_by(
        "-created_at", "-id"
    )
    rows = (
        Conversation.objects.filter(where, inbox_search_q(business_id=business_id, q=q), business_id=business_id)
        .select_related("contact", "assignee")
        .annotate(
            priority_rank=Case(
                When(priority=Conversation.Priority.URGENT, then=Value(0)),
                When(priority=Conversation.Priority.HIGH, then=Value(1)),
                default=Value(2),
            ),
            waiting_since=Coalesce("last_inbound_at", "created_at"),
            needs_reply=ExpressionWrapper(_NEEDS_REPLY_Q, output_field=BooleanField()),
            last_message_excerpt=Subquery(last_message.annotate(excerpt=Left("body", 140)).values("excerpt")[:1]),
            last_message_direction=Subquery(last_message.values("direction")[:1]),
            intake_service_type=Subquery(last_intake.values("service_type")[:1]),
            intake_urgency=Subquery(last_intake.values("urgency")[:1]),
        )
    )
    position = _decode_cursor(cursor, needs_reply=needs_reply) if cursor else None
    if needs_reply:
        rows = rows.order_by("priority_rank", "waiting_since", "id")
        if position is not None:
            rank, at, pk = position
            rows = rows.filter(
                Q(priority_rank__gt=rank)
                | Q(priority_rank=rank, waiting_since__gt=at)
                | Q(priority_rank=rank, waiting_since=at, id__gt=pk)
            )
    else:
        rows = rows.order_by("-last_activity_at", "-id")
        if position is not None:
            at, pk = position
            rows = rows.filter(Q(last_activity_at__lt=at) | Q(last_activity_at=at, id__lt=pk))
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

"""Reads for the inbox: one conversation's history as a single timeline."""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Prefetch, Q

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

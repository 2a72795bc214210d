"""What operators do to a conversation: assign, change status, snooze, book, mark lost, set priority and tags,
write notes. Each action runs in one transaction, takes the row locks in the global order (contact, then
conversation), writes a timeline event and an audit entry, and tells open inbox pages. Invalid input raises
ValidationError and writes nothing."""

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from compliance.services import audit
from inbox import live
from inbox.models import Contact, Conversation, ConversationEvent, ConversationTag, Note, Tag
from tenants.models import Membership

Status = Conversation.Status
MAX_SNOOZE = dt.timedelta(days=365)
MAX_BOOKED_VALUE = Decimal("99999999.99")  # the column holds 10 digits, 2 after the point
NOTE_MAX_CHARS = 4000
TAG_MAX = 40


def _locked(conversation: Conversation) -> Conversation:
    """Lock the contact, then the conversation (the order every writer uses), and return a fresh copy."""
    Contact.objects.select_for_update().filter(pk=conversation.contact_id, business_id=conversation.business_id).get()
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("business", "contact", "assignee")
        .get(pk=conversation.pk, business_id=conversation.business_id)
    )


def _record(conversation: Conversation, kind: str, actor, action: str, **data) -> ConversationEvent:
    event = ConversationEvent.objects.create(
        business_id=conversation.business_id, conversation=conversation, kind=kind, actor=actor, data=data
    )
    audit(business=conversation.business, action=action, actor=actor, target=conversation, **data)
    live.touch(conversation.business_id, conversation.pk)
    if actor is not None:
        human_acted(conversation=conversation, user=actor, action=action)
    return event


def human_acted(*, conversation: Conversation, user, action: str) -> None:
    """A person did something in the conversation (replied, called back, assigned, changed its status, wrote a
    note): that acknowledges a running escalation and stops the answer-time timers, in the same transaction (the
    conversation is locked by the caller), so a due timer racing the action fires before it or not at all."""
    from inbox.escalation import escalation_acknowledge
    from inbox.sla import sla_stop

    escalation_acknowledge(conversation=conversation, user=user, via=action)
    sla_stop(conversation=conversation, reason=action)


def _refuse_nul(*texts: str) -> None:
    """PostgreSQL text cannot hold NUL bytes: refuse them with a message instead of failing the request."""
    if any("\x00" in (text or "") for text in texts):
        raise ValidationError("The text contains a character that cannot be stored.", code="nul")


def _name(user) -> str:
    return (user.full_name or user.email) if user is not None else ""


def member_of(business, user_id) -> "Membership | None":
    """The business's membership of `user_id`, or None (a stranger, someone who left, or junk input)."""
    try:
        user_id = int(user_id)
    except (TypeError, ValueError):
        return None
    return Membership.objects.select_related("user").filter(business=business, user_id=user_id).first()


@transaction.atomic
def conversation_assign(*, conversation: Conversation, assignee, actor) -> Conversation:
    """Give the conversation to `assignee` (a member of its business) or to nobody (None)."""
    conversation = _locked(conversation)
    if assignee is not None and not Membership.objects.filter(business=conversation.business, user=assignee).exists():
        raise ValidationError("Pick someone on this business's team.", code="not_member")
    if conversation.assignee_id == (assignee.pk if assignee else None):
        return conversation
    before = conversation.assignee
    conversation.assignee = assignee
    conversation.save(update_fields=["assignee"])
    _record(
        conversation,
        ConversationEvent.Kind.ASSIGNED,
        actor,
        "conversation.assign",
        **{"from": before.pk if before else None, "from_name": _name(before)},
        to=assignee.pk if assignee else None,
        to_name=_name(assignee),
    )
    return conversation


# Statuses an operator sets directly; booked, lost and snoozed have their own actions (they carry details).
SETTABLE_STATUSES = (Status.OPEN, Status.WAITING, Status.CLOSED)


@transaction.atomic
def conversation_set_status(*, conversation: Conversation, status: str, actor) -> Conversation:
    """Move the conversation to open, waiting on caller or closed. Reopening a finished conversation is refused
    when the caller already has another open one (one open thread per caller)."""
    if status not in SETTABLE_STATUSES:
        raise ValidationError("Choose open, waiting on caller or closed.", code="bad_status")
    conversation = _locked(conversation)
    before = conversation.status
    if before == status:
        return conversation
    if status != Status.CLOSED and not conversation.is_open:
        other = (
            Conversation.objects.filter(
                business_id=conversation.business_id,
                contact_id=conversation.contact_id,
                status__in=Conversation.OPEN_STATUSES,
            )
            .exclude(pk=conversation.pk)
            .first()
        )
        if other is not None:
            raise ValidationError(
                "This caller already has an open conversation; continue there instead.", code="other_open"
            )
    conversation.status = status
    conversation.closed_at = timezone.now() if status == Status.CLOSED else None
    conversation.snoozed_until = None
    conversation.save(update_fields=["status", "closed_at", "snoozed_until"])
    _record(conversation, ConversationEvent.Kind.STATUS, actor, "conversation.status", **{"from": before}, to=status)
    return conversation


def _still_open(conversation: Conversation, what: str) -> None:
    if not conversation.is_open:
        raise ValidationError(
            f"This conversation is {conversation.get_status_display().lower()}; reopen it before you {what}.",
            code="finished",
        )


@transaction.atomic
def conversation_snooze(*, conversation: Conversation, until: dt.datetime, actor) -> Conversation:
    """Hide the conversation until `until` (then it comes back as open); a text from the caller wakes it early."""
    now = timezone.now()
    if until <= now:
        raise ValidationError("Pick a time in the future.", code="past")
    if until > now + MAX_SNOOZE:
        raise ValidationError("You can snooze for at most a year.", code="too_far")
    conversation = _locked(conversation)
    _still_open(conversation, "snooze it")
    before = conversation.status
    conversation.status, conversation.snoozed_until = Status.SNOOZED, until
    conversation.save(update_fields=["status", "snoozed_until"])
    _record(
        conversation,
        ConversationEvent.Kind.SNOOZED,
        actor,
        "conversation.snooze",
        **{"from": before},
        until=until.isoformat(),
    )
    return conversation


def parse_job_value(text: str) -> Decimal | None:
    """A job value as typed ("1,250", "$980.50", blank for none), or ValidationError."""
    text = (text or "").strip().replace(",", "").removeprefix("$").strip()
    if not text:
        return None
    if not text.isascii():
        raise ValidationError("Enter the job value in dollars, e.g. 1250 or 980.50.", code="bad_value")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValidationError("Enter the job value in dollars, e.g. 1250 or 980.50.", code="bad_value") from None
    if not value.is_finite() or value < 0 or value > MAX_BOOKED_VALUE:
        raise ValidationError("Enter a job value between 0 and 99,999,999.99.", code="bad_value")
    return value.quantize(Decimal("0.01"))


@transaction.atomic
def conversation_book(*, conversation: Conversation, value: Decimal | None, actor) -> Conversation:
    """Mark the conversation won: a job was booked, with its value when known."""
    conversation = _locked(conversation)
    _still_open(conversation, "mark it booked")
    before = conversation.status
    conversation.status, conversation.booked_value = Status.BOOKED, value
    conversation.closed_at, conversation.snoozed_until = timezone.now(), None
    conversation.save(update_fields=["status", "booked_value", "closed_at", "snoozed_until"])
    _record(
        conversation,
        ConversationEvent.Kind.BOOKED,
        actor,
        "conversation.book",
        **{"from": before},
        value=str(value) if value is not None else None,
    )
    from integrations import outbound

    outbound.conversation_booked(conversation)
    return conversation


@transaction.atomic
def conversation_lose(*, conversation: Conversation, reason: str, note: str, actor) -> Conversation:
    """Mark the conversation lost, with one of the fixed reasons (for reporting) and an optional note."""
    if reason not in Conversation.LostReason.values:
        raise ValidationError("Choose why this lead was lost.", code="bad_reason")
    _refuse_nul(note)
    note = (note or "").strip()
    if len(note) > 200:
        raise ValidationError("Keep the note under 200 characters.", code="too_long")
    conversation = _locked(conversation)
    _still_open(conversation, "mark it lost")
    before = conversation.status
    conversation.status, conversation.lost_reason, conversation.lost_note = Status.LOST, reason, note
    conversation.closed_at, conversation.snoozed_until = timezone.now(), None
    conversation.save(update_fields=["status", "lost_reason", "lost_note", "closed_at", "snoozed_until"])
    _record(conversation, ConversationEvent.Kind.LOST, actor, "conversation.lost", **{"from": before}, reason=reason)
    return conversation


@transaction.atomic
def conversation_set_priority(*, conversation: Conversation, priority: str, actor) -> Conversation:
    """Set normal, high or urgent. Raising it to urgent alerts the team and pages the on-call chain, like an
    urgent text would (a dispatcher marks it urgent to get a technician out)."""
    from inbox.urgency import mark_urgent

    if priority not in Conversation.Priority.values:
        raise ValidationError("Choose normal, high or urgent.", code="bad_priority")
    conversation = _locked(conversation)
    before = conversation.priority
    if before == priority:
        return conversation
    if priority == Conversation.Priority.URGENT and conversation.is_open:
        mark_urgent(conversation=conversation, reason=f"Marked urgent by {_name(actor)}", actor=actor)
        return conversation
    conversation.priority = priority
    conversation.urgent_reason = ""
    conversation.save(update_fields=["priority", "urgent_reason"])
    _record(
        conversation, ConversationEvent.Kind.PRIORITY, actor, "conversation.priority", **{"from": before}, to=priority
    )
    return conversation


def tag_names(text: str) -> list[str]:
    """Tags typed as a comma separated list, tidied: inner spaces collapsed, duplicates (any case) dropped."""
    _refuse_nul(text)
    names: dict[str, str] = {}
    for raw in (text or "").split(","):
        name = " ".join(raw.split())
        if not name:
            continue
        if len(name) > TAG_MAX:
            raise ValidationError(f"A tag can be at most {TAG_MAX} characters: “{name[:TAG_MAX]}…”.", code="long_tag")
        names.setdefault(name.casefold(), name)
    if len(names) > 20:
        raise ValidationError("A conversation can have at most 20 tags.", code="too_many_tags")
    return list(names.values())


@transaction.atomic
def conversation_set_tags(*, conversation: Conversation, names: list[str], actor) -> Conversation:
    """Replace the conversation's tags with `names`. A name the business has (any case) reuses its tag; a new one
    creates it for the whole business."""
    conversation = _locked(conversation)
    business_id = conversation.business_id
    existing = {tag.name.casefold(): tag for tag in Tag.objects.filter(business_id=business_id)}
    wanted = []
    for name in names:
        tag = existing.get(name.casefold())
        if tag is None:
            try:
                with transaction.atomic():
                    tag = Tag.objects.create(business_id=business_id, name=name)
            except IntegrityError:  # a teammate created it (in any case) a moment ago
                tag = Tag.objects.get(business_id=business_id, name__iexact=name)
            existing[name.casefold()] = tag
        wanted.append(tag)
    current = {link.tag_id: link for link in ConversationTag.objects.filter(conversation=conversation)}
    wanted_ids = {tag.pk for tag in wanted}
    added = [tag.name for tag in wanted if tag.pk not in current]
    removed_ids = [tag_id for tag_id in current if tag_id not in wanted_ids]
    if not added and not removed_ids:
        return conversation
    removed = list(Tag.objects.filter(business_id=business_id, pk__in=removed_ids).values_list("name", flat=True))
    ConversationTag.objects.filter(conversation=conversation, tag_id__in=removed_ids).delete()
    ConversationTag.objects.bulk_create(
        [
            ConversationTag(business_id=business_id, conversation=conversation, tag=tag)
            for tag in wanted
            if tag.pk not in current
        ]
    )
    _record(conversation, ConversationEvent.Kind.TAGS, actor, "conversation.tags", added=added, removed=removed)
    return conversation


_MENTION = re.compile(r"(?<![\w.])@([\w.+-]+)", re.UNICODE)


def mention_handle(user) -> str:
    """How teammates write a member in a note: @ and the part of their email before the @ ("@sam")."""
    return user.email.split("@", 1)[0].lower()


def mentioned_members(business, body: str) -> list:
    """Members of `business` named in `body` as @handle (see mention_handle) or @Firstname (when only one member
    has that first name). Strangers' handles match nobody."""
    words = {match.rstrip(".").lower() for match in _MENTION.findall(body)}
    if not words:
        return []
    members = [m.user for m in Membership.objects.select_related("user").filter(business=business)]
    by_first: dict[str, list] = {}
    for user in members:
        first = (user.full_name.split() or [""])[0].lower()
        if first:
            by_first.setdefault(first, []).append(user)
    found = {}
    for user in members:
        if mention_handle(user) in words:
            found[user.pk] = user
    for word in words:
        if len(by_first.get(word, [])) == 1:
            user = by_first[word][0]
            found[user.pk] = user
    return list(found.values())


@transaction.atomic
def note_add(*, conversation: Conversation, body: str, author) -> Note:
    """An internal note (never texted). @mentions of teammates are stored and alert them."""
    from inbox.notifications import notify_mentions

    _refuse_nul(body)
    body = (body or "").replace("\r\n", "\n").strip()
    if not body:
        raise ValidationError("Write something before you save the note.", code="empty")
    if len(body) > NOTE_MAX_CHARS:
        raise ValidationError(f"A note can be at most {NOTE_MAX_CHARS} characters.", code="too_long")
    conversation = _locked(conversation)
    note = Note.objects.create(
        business_id=conversation.business_id, conversation=conversation, author=author, body=body
    )
    mentioned = mentioned_members(conversation.business, body)
    if mentioned:
        note.mentions.set(mentioned)
    audit(
        business=conversation.business,
        action="conversation.note",
        actor=author,
        target=conversation,
        note_id=note.pk,
        mentions=[user.pk for user in mentioned],
    )
    live.touch(conversation.business_id, conversation.pk)
    human_acted(conversation=conversation, user=author, action="conversation.note")
    if mentioned:
        notify_mentions(note)
    return note


def wake_snoozed(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Bring back conversations whose snooze ended (beat, every 30 s). Each in a short transaction of its own that
    locks the contact, then the conversation (the global order), SKIP LOCKED on the contact: a caller someone is
    working on right now is left for the next sweep, so the sweeper never waits on people and two sweepers share
    the work. Returns how many woke."""
    now = now or timezone.now()
    due = list(
        Conversation.objects.filter(status=Status.SNOOZED, snoozed_until__lte=now)
        .order_by("snoozed_until")
        .values_list("pk", "contact_id")[:limit]
    )
    woken = 0
    for conversation_id, contact_id in due:
        with transaction.atomic():
            if Contact.objects.select_for_update(skip_locked=True).filter(pk=contact_id).first() is None:
                continue
            conversation = (
                Conversation.objects.select_for_update(of=("self",))
                .select_related("business")
                .filter(pk=conversation_id, status=Status.SNOOZED, snoozed_until__lte=now)
                .first()
            )
            if conversation is None:  # woken by a text or an operator meanwhile
                continue
            conversation.status = Status.OPEN
            conversation.last_activity_at = now
            conversation.save(update_fields=["status", "last_activity_at"])
            _record(
                conversation,
                ConversationEvent.Kind.STATUS,
                None,
                "conversation.status",
                **{"from": Status.SNOOZED},
                to=Status.OPEN,
                rule="snooze_ended",
            )
            woken += 1
    return woken

"""Alerts for members: a new conversation, a caller's text, an urgent case, a mention in a note.

Two halves, so the webhook and action paths stay fast and a burst of texts is one alert:

- `notify_*` run inside the transaction of the event (a missed call, an inbound text, an intake form, a note) and
  only insert Notification rows, one per member who wants it, with a due time. No network: a query or two to pick
  the members and one insert. A member without a MemberSettings row gets the model's defaults. Nobody is alerted about
  what they did themselves (`actor`), and only members of the conversation's business are ever considered.
- `sweep_notifications` (Celery beat) finds members with a due row and, per member, claims every pending row of
  theirs with FOR UPDATE SKIP LOCKED and sends them as ONE email and ONE text, marking them sent in the same
  transaction. Two sweepers at once split the members between them; neither sends a row the other holds.

Batching windows (`due_at` = now + the window of the kind):
- new conversation, new message: 30 s. A caller rarely sends one text: they send three in ten seconds, or answer
  the text-back a few seconds after a missed call. Waiting half a minute turns that into one alert, and is small
  next to the minutes an operator takes to answer anyway.
- urgent, mention: 0. Someone is asking for a person now; they go at the next sweep (every few seconds) and take
  whatever else is pending for that member with them.
"""

import datetime as dt
import logging
import smtplib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from django.conf import settings
from django.core.mail import get_connection, send_mail
from django.db import transaction
from django.db.models import BooleanField, Min, Value
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from inbox.models import Conversation, MemberSettings, Note, Notification
from messaging.models import Message
from messaging.segments import analyse
from secdesk.phone import pretty
from secdesk.ttl import TTLCache
from tenants.models import Membership

logger = logging.getLogger(__name__)
Kind = Notification.Kind

WINDOWS = {
    Kind.NEW_CONVERSATION: dt.timedelta(seconds=30),
    Kind.NEW_MESSAGE: dt.timedelta(seconds=30),
    Kind.URGENT: dt.timedelta(0),
    Kind.MENTION: dt.timedelta(0),
    Kind.SLA: dt.timedelta(0),
}
EXCERPT_CHARS = 80


# --- who wants what ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Team:
    """The business's current members (active accounts) as one alert kind sees them."""

    wants: Mapping[int, bool]  # user id -> wants this kind of alert (the field's default without a settings row)
    phones: frozenset[str]  # the members' own phones: a text from one of them is a teammate, not a caller

    def everyone(self, actor=None) -> list[int]:
        return [user_id for user_id, wants in self.wants.items() if wants and (actor is None or user_id != actor.pk)]

    def assignee_or_everyone(self, assignee_id: int | None, actor=None) -> list[int]:
        """The assignee if they want it; everyone who wants it when nobody is assigned, or when the assignee has
        left the business (so the alert does not fall into a void). Never the actor."""
        if assignee_id not in self.wants:
            return self.everyone(actor)
        wanted = self.wants[assignee_id] and (actor is None or assignee_id != actor.pk)
        return [assignee_id] if wanted else []


_teams = TTLCache("TELEPHONY_CONFIG_CACHE_SECONDS")


def team(business_id: int, flag: str) -> Team:
    """Who wants alerts of `flag` in the business, in one query, kept per process for a couple of seconds
    (TELEPHONY_CONFIG_CACHE_SECONDS) like the rest of the configuration webhooks read: a new member or a changed
    alert setting counts that much later."""
    return _teams.get((business_id, flag), lambda: _load_team(business_id, flag))


def _load_team(business_id: int, flag: str) -> Team:
    default = MemberSettings._meta.get_field(flag).default
    rows = (
        Membership.objects.filter(business_id=business_id, user__is_active=True)
        .annotate(wants=Coalesce(f"inbox_settings__{flag}", Value(default), output_field=BooleanField()))
        .values_list("user_id", "wants", "user__phone")
    )
    wants, phones = {}, set()
    for user_id, wanted, phone in rows:
        wants[user_id] = wanted
        if phone:
            phones.add(phone)
    return Team(wants=MappingProxyType(wants), phones=frozenset(phones))  # shared between threads: read-only


def _queue(*, conversation: Conversation, user_ids, kind: str, text: str) -> list[Notification]:
    if not user_ids:
        return []
    due = timezone.now() + WINDOWS[kind]
    return Notification.objects.bulk_create(
        Notification(
            business_id=conversation.business_id,
            user_id=user_id,
            conversation=conversation,
            kind=kind,
            text=text[:300],
            due_at=due,
        )
        for user_id in sorted(set(user_ids))
    )


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """`text` on one line, cut to `limit` characters with "..." (ASCII, so an alert text stays GSM-7)."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[:limit].rstrip() + "..."


def _caller(conversation: Conversation) -> str:
    """The caller as the alert names them: their number, nothing else (alerts travel by email and SMS)."""
    return pretty(conversation.contact.phone)


# --- the events --------------------------------------------------------------------------------------------------


def notify_new_conversation(conversation: Conversation, *, actor=None) -> list[Notification]:
    """Alert the members who want to hear about new conversations. Runs in the transaction that created it. A
    conversation with a teammate's own phone (answering an alert text, say) is not a lead: nobody is alerted."""
    from telephony.models import Call

    members = team(conversation.business_id, "notify_new_conversation")
    phone = conversation.contact.phone
    users = members.everyone(actor)
    if not users or phone in members.phones:
        return []
    # A missed call creates the conversation while its call row is still undecided; a first text has no such call.
    by_call = Call.objects.filter(
        business_id=conversation.business_id,
        caller=phone,
        direction=Call.Direction.INBOUND,
        decision=Call.Decision.PENDING,
    ).exists()
    what = "missed call" if by_call else "text"
    return _queue(
        conversation=conversation, user_ids=users, kind=Kind.NEW_CONVERSATION, text=f"New {what} from {pretty(phone)}"
    )


def notify_inbound_message(message: Message) -> list[Notification]:
    """Alert about a caller's text: the assignee, or every member who wants new-message alerts when nobody is
    assigned. The caller of this function has already left out STOP/START/HELP; a text from a teammate's own
    phone alerts nobody."""
    conversation = message.conversation
    if conversation is None or message.direction != Message.Direction.INBOUND:
        return []
    members = team(conversation.business_id, "notify_new_message")
    if message.from_number in members.phones:
        return []
    users = members.assignee_or_everyone(conversation.assignee_id)
    if not users:
        return []
    if message.body.strip():
        text = f"{_caller(conversation)}: {excerpt(message.body)}"
    else:
        text = f"{_caller(conversation)} sent a {'picture' if message.media else 'text'}"
    return _queue(conversation=conversation, user_ids=users, kind=Kind.NEW_MESSAGE, text=text)


def notify_urgent(conversation: Conversation, *, reason: str, actor=None) -> list[Notification]:
    """Alert about an urgent conversation: the assignee, or everyone who wants urgent alerts when nobody is
    assigned. A member who still has an unsent urgent alert for this conversation is not alerted twice."""
    users = team(conversation.business_id, "notify_urgent").assignee_or_everyone(conversation.assignee_id, actor)
    if users:
        pending = Notification.objects.filter(
            business_id=conversation.business_id,
            conversation=conversation,
            kind=Kind.URGENT,
            sent_at__isnull=True,
            user_id__in=users,
        ).values_list("user_id", flat=True)
        users = sorted(set(users) - set(pending))
    text = f"Urgent: {_caller(conversation)} - {excerpt(reason, 120)}"
    return _queue(conversation=conversation, user_ids=users, kind=Kind.URGENT, text=text)


def notify_mentions(note: Note) -> list[Notification]:
    """Alert each member mentioned in `note` who wants mention alerts; never the author, never a non-member."""
    mentioned = set(note.mentions.values_list("pk", flat=True)) - {note.author_id}
    if not mentioned:
        return []
    wants = team(note.business_id, "notify_mention").wants
    users = [user_id for user_id in mentioned if wants.get(user_id)]
    who = note.author.display_name if note.author else "A teammate"
    text = f"{who} mentioned you: {excerpt(note.body)}"
    return _queue(conversation=note.conversation, user_ids=users, kind=Kind.MENTION, text=text)


def notify_answer_time(conversation: Conversation, *, user_ids, text: str) -> list[Notification]:
    """Alert `user_ids` that a caller has waited past the business's answer-time target (inbox.sla picks who:
    the assignee, the team or the owners). Goes at the next sweep."""
    return _queue(conversation=conversation, user_ids=user_ids, kind=Kind.SLA, text=text)


# --- delivery ----------------------------------------------------------------------------------------------------

SWEEP_MEMBERS = 100  # members served per run; the rest are next in line at the next beat
SWEEP_BUDGET = dt.timedelta(seconds=30)  # stop starting new members well inside the task's soft time limit
EMAIL_TIMEOUT_SECONDS = 10  # a hanging mail server must not hold the rows' locks for long
GIVE_UP_AFTER = dt.timedelta(hours=1)  # an alert this old is no use; the inbox still shows the conversation
EMAIL_ERRORS = (smtplib.SMTPException, OSError)  # refused, dropped or timed-out deliveries
SMS_ITEMS = 3  # an alert text lists this many items at most
SMS_ITEM_CHARS = 70
SMS_MAX_SEGMENTS = 2  # fewer items rather than a long text (an emoji from a caller halves what fits)


def sweep_notifications() -> dict[str, int]:
    """Send every member's due alerts: the members whose earliest pending row is due, oldest first, each in its
    own transaction. Returns how many members ended how (for logs and tests)."""
    started = timezone.now()
    members = list(
        Notification.objects.filter(sent_at__isnull=True, due_at__lte=started)
        .values("business_id", "user_id")
        .annotate(first_due=Min("due_at"))
        .order_by("first_due")
        .values_list("business_id", "user_id")[:SWEEP_MEMBERS]
    )
    outcomes: Counter[str] = Counter()
    for business_id, user_id in members:
        if timezone.now() - started > SWEEP_BUDGET:
            break
        try:
            outcome = deliver_member_notifications(business_id=business_id, user_id=user_id)
        except Exception:  # one member's broken batch must not block everyone queued behind it
            logger.exception("alerts for user %s in business %s failed", user_id, business_id)
            outcome = _retry_later(business_id=business_id, user_id=user_id)
        outcomes[outcome] += 1
    return dict(outcomes)


def deliver_member_notifications(*, business_id: int, user_id: int) -> str:
    """Claim all of one member's pending alerts (if the earliest is due) and send them as one email and one text.

    One transaction: the member's Membership row is locked first with SKIP LOCKED, so one sweeper at a time owns
    a member's batch (locking the alert rows alone is not enough: two sweepers locking them row by row could each
    win part of the batch and send two emails); then the rows are locked, the text is
    queued as a Message row (sent after commit by the normal sending path) and the email is sent; then the rows are
    marked sent. If the email fails the rows stay pending with a later due time and are tried again, for at most
    GIVE_UP_AFTER; the text's row is committed all the same, and its idempotency key (the member and the batch's
    first row) makes the retry find it instead of texting twice. A crash before commit loses nothing: the rows, and
    the text's row with them, roll back and the next sweep sends both again (the email may then arrive twice,
    which beats never). A member who left the business (or whose account is off) gets nothing: their rows are
    deleted."""
    now = timezone.now()
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("user", "business")
            .filter(business_id=business_id, user_id=user_id)
            .first()
        )
        if membership is None and Membership.objects.filter(business_id=business_id, user_id=user_id).exists():
            return "busy"  # another sweeper is sending this member's batch
        rows = list(
            Notification.objects.select_for_update(of=("self",))
            .filter(business_id=business_id, user_id=user_id, sent_at__isnull=True)
            .select_related("conversation__phone_number", "conversation__contact")
            .order_by("created_at", "pk")
        )
        if not rows or min(row.due_at for row in rows) > now:
            return "nothing due"
        ids = [row.pk for row in rows]
        if membership is None or not membership.user.is_active or not membership.business.is_active:
            Notification.objects.filter(pk__in=ids).delete()
            return "not a member"
        prefs = member_settings_for(membership)
        user, business = membership.user, membership.business
        if prefs.by_sms and user.phone:
            _queue_sms(business=business, user=user, rows=rows, now=now)
        if prefs.by_email and user.email:
            try:
                _send_email(business=business, user=user, rows=rows)
            except EMAIL_ERRORS:
                logger.warning("alert email to user %s failed", user_id, exc_info=True)
                return _postpone(ids, oldest=rows[0].created_at, now=now)
        Notification.objects.filter(pk__in=ids).update(sent_at=now)
    return "sent"


def _postpone(ids: list[int], *, oldest: dt.datetime, now: dt.datetime) -> str:
    """Try a failed batch again later: after half its age (30 s to 10 min), so a long outage is not hammered;
    after GIVE_UP_AFTER the batch is dropped (marked sent) with an error in the log."""
    age = now - oldest
    if age >= GIVE_UP_AFTER:
        logger.error("giving up on %d alerts first queued %s ago", len(ids), age)
        Notification.objects.filter(pk__in=ids).update(sent_at=now)
        return "gave up"
    delay = min(max(age / 2, dt.timedelta(seconds=30)), dt.timedelta(minutes=10))
    Notification.objects.filter(pk__in=ids).update(due_at=now + delay)
    return "retry"


def _retry_later(*, business_id: int, user_id: int) -> str:
    """After an unexpected error (everything it wrote rolled back), push the member's due rows back, bounded."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(business_id=business_id, user_id=user_id, sent_at__isnull=True, due_at__lte=now)
            .order_by("created_at", "pk")
            .values_list("pk", "created_at")
        )
        if not rows:
            return "nothing due"
        return _postpone([pk for pk, _ in rows], oldest=rows[0][1], now=now)


def member_settings_for(membership: Membership) -> MemberSettings:
    """The member's saved settings, or the defaults (unsaved) when they never changed them."""
    try:
        return membership.inbox_settings
    except MemberSettings.DoesNotExist:
        return MemberSettings(membership=membership, business_id=membership.business_id)


def _link(business, conversation_id: int | None) -> str:
    if conversation_id is None:
        return settings.PUBLIC_BASE_URL + reverse("inbox", args=[business.slug])
    return settings.PUBLIC_BASE_URL + reverse("conversation", args=[business.slug, conversation_id])


def _send_email(*, business, user, rows: list[Notification]) -> None:
    context = {
        "business": business,
        "user": user,
        "count": len(rows),
        "urgent": any(row.kind == Kind.URGENT for row in rows),
        "items": [{"text": row.text, "url": _link(business, row.conversation_id)} for row in by_importance(rows)],
        "inbox_url": _link(business, None),
        "settings_url": settings.PUBLIC_BASE_URL + reverse("member_settings", args=[business.slug]),
    }
    # One line whatever the business name holds: a newline in a header is refused by the mail library.
    subject = " ".join(render_to_string("inbox/email/alerts_subject.txt", context).split())
    body = render_to_string("inbox/email/alerts_body.txt", context)
    connection = get_connection(timeout=EMAIL_TIMEOUT_SECONDS)
    send_mail(subject, body, None, [user.email], connection=connection)


def by_importance(rows: list[Notification]) -> list[Notification]:
    """Urgent first, then mentions, then the rest; oldest first within each."""
    rank = {Kind.URGENT: 0, Kind.MENTION: 1}
    return sorted(rows, key=lambda row: (rank.get(row.kind, 2), row.created_at, row.pk))


def sms_body(*, business, rows: list[Notification]) -> str:
    """The alert text: a header, the most important items (as many as fit in two segments, at most SMS_ITEMS,
    at least one) and one link: to the conversation when there is only one, else to the inbox."""
    conversations = {row.conversation_id for row in rows}
    link = _link(business, conversations.pop() if len(conversations) == 1 else None)
    header = f"SecondDesk - {business.name}: {len(rows)} new" if len(rows) > 1 else f"SecondDesk - {business.name}"
    items = [excerpt(row.text, SMS_ITEM_CHARS) for row in by_importance(rows)]
    for shown in range(min(SMS_ITEMS, len(items)), 0, -1):
        more = [f"and {len(items) - shown} more"] if len(items) > shown else []
        body = "\n".join([header, *items[:shown], *more, link])
        if analyse(body).segments <= SMS_MAX_SEGMENTS:
            break
    return body


def _queue_sms(*, business, user, rows: list[Notification], now: dt.datetime):
    """Queue one team-notification text to the member's phone from the business's number (the number of the
    latest conversation in the batch that has one, else the business's first). It belongs to no conversation, so
    it never shows in a caller's thread or counts as a text to a caller; the sending worker skips it only if the
    member's number opted out (they replied STOP). Idempotent per batch (see deliver_member_notifications)."""
    from messaging.services import message_queue_automatic
    from telephony.models import PhoneNumber

    numbers = [row.conversation.phone_number for row in rows if row.conversation and row.conversation.phone_number]
    number = numbers[-1] if numbers else PhoneNumber.objects.filter(business=business).order_by("pk").first()
    if number is None or number.e164 == user.phone:
        return None
    message, _ = message_queue_automatic(
        business=business,
        number=number,
        to=user.phone,
        body=sms_body(business=business, rows=rows),
        kind=Message.Kind.NOTIFICATION,
        # keyed by the batch's newest row: a retry of the same batch finds its text, while alerts that joined a
        # postponed batch (email down) still get a text of their own
        key=f"notification:{business.pk}:{user.pk}:{rows[-1].pk}",
        detail=f"member_alerts:{len(rows)}",
        trigger=Message.Trigger.SYSTEM,
        now=now,
    )
    return message

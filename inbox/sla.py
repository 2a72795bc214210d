"""Answer-time targets and the one follow-up nudge: timers started by what the caller does, stopped by what a
person does, fired by the sweeper (inbox.timers) exactly once.

Answer time ("SLA"). A conversation waits on the business from a missed call or a first text, and again whenever
the caller texts or sends the intake form. Then `sla_start` sets a deadline: the business's target in minutes while
it is open (default 15), or its next opening plus the after-hours target when closed (default 15, so a caller who
rings at 11 pm has an answer by 8:15 am, not at 11:15 pm). When the deadline passes with nobody having acted,
`sla_assignee` reminds the assignee (everyone who follows unassigned conversations when there is none) and sets the
same target again; if that passes too, `sla_owner` tells the owners. Any person's action in the conversation (a
reply, a call back, a note, an assignment, a status change: inbox.actions.human_acted) calls `sla_stop` in its own
transaction with the conversation locked, and the sweeper takes the same lock before it fires: a reply racing a due
timer ends with exactly one outcome, the reply first (no alert) or the alert first (then the reply stops the rest).
A caller who keeps texting does not push the deadline later: a pending timer is kept.

Follow-up. When the text-back is queued, `follow_up_schedule` sets a timer (default 2 hours). When it fires, if the
text-back was not refused, the caller has neither replied since nor opened the intake link, nobody on the team has
replied, the conversation is still new or open and the number has not opted out, ONE polite follow-up is queued
(kind FOLLOW_UP, which the sending worker holds for the caller's quiet hours; its row already carries the first
allowed time). `Conversation.follow_up_sent_at` and the unique key "follow_up:<conversation id>" make it one per
conversation, ever.
"""

import datetime as dt
import logging

from django.db.models import Q

from compliance.quiet_hours import NoSendWindowError, next_allowed_send
from compliance.services import audit, consent_state
from inbox import live
from inbox.models import Conversation, ConversationEvent, ResponseSettings, Timer
from inbox.timers import PENDING, handles, timer_cancel, timer_schedule
from messaging import templating
from secdesk.phone import pretty
from tenants.models import Business, Membership

logger = logging.getLogger(__name__)

SLA_KINDS = (Timer.Kind.SLA_ASSIGNEE, Timer.Kind.SLA_OWNER)
# The statuses in which the ball is with the business; "waiting" (on the caller) and "snoozed" are not.
WAITING_ON_BUSINESS = (Conversation.Status.NEW, Conversation.Status.OPEN)

DEFAULT_FOLLOW_UP = (
    "{business} here, following up on your call. Still need a hand? Just reply, or tell us about the job: {intake_link}"
)
FOLLOW_UP_MIN_MINUTES = 15
FOLLOW_UP_MAX_MINUTES = 7 * 24 * 60


def settings_for(business: Business) -> ResponseSettings:
    """The business's response settings: the copy already loaded on `business` when there is one (the one-to-one
    accessor caches it), else read, or created with the defaults."""
    try:
        return business.response_settings
    except ResponseSettings.DoesNotExist:
        from inbox.urgency import response_settings_for

        return response_settings_for(business)


def _from_a_teammate(conversation: Conversation) -> bool:
    """A conversation with a member's own phone (answering an alert or a page) is not a caller waiting."""
    from telephony.selectors import insiders

    return conversation.contact.phone in insiders(conversation.business_id).member_phones


# --- answer time ---------------------------------------------------------------------------------------------------


def sla_deadline(*, business: Business, now: dt.datetime, settings: ResponseSettings) -> dt.datetime:
    """When a caller waiting from `now` should have heard from a person: `now` plus the open-hours target while
    the business is open; its next opening plus the after-hours target when it is closed. A business with no
    opening in the next two weeks (no hours set) gets the after-hours target from `now`: someone should still
    look."""
    if business.is_open(now):
        return now + dt.timedelta(minutes=settings.sla_open_minutes)
    opening = business.next_opening(now)
    start = opening.astimezone(dt.UTC) if opening is not None else now
    return start + dt.timedelta(minutes=settings.sla_closed_minutes)


def sla_start(*, conversation: Conversation, now: dt.datetime, fresh: bool = False) -> Timer | None:
    """The conversation now waits on the business: make sure an answer-time timer runs. Run with the
    conversation locked, inside the transaction of what the caller did. Keeps a pending timer as it is (a second
    text does not push the deadline later) and returns it; returns None, changing nothing, when the business
    turned answer times off, the conversation is not waiting on the business, or the "caller" is a teammate.
    `fresh`: the conversation was created in this transaction, so it has no timer to look for."""
    if not fresh:
        pending = Timer.objects.filter(PENDING, conversation=conversation, kind__in=SLA_KINDS).first()
        if pending is not None:
            return pending
    if conversation.status not in WAITING_ON_BUSINESS:
        return None
    business = conversation.business
    settings = settings_for(business)
    if not settings.sla_enabled or _from_a_teammate(conversation):
        return None
    # None pending (read above, under the conversation's lock): insert straight away, without timer_schedule's
    # second look. The partial unique index is the backstop.
    return Timer.objects.create(
        business_id=conversation.business_id,
        conversation=conversation,
        kind=Timer.Kind.SLA_ASSIGNEE,
        due_at=sla_deadline(business=business, now=now, settings=settings),
    )


def sla_stop(*, conversation: Conversation, reason: str) -> int:
    """A person acted in the conversation: cancel its pending answer-time timers (one UPDATE; nothing to do is a
    cheap no-op). Run with the conversation locked, in the action's transaction. Returns how many it cancelled."""
    return timer_cancel(conversation=conversation, kinds=SLA_KINDS, reason=reason)


def _waited(conversation: Conversation, now: dt.datetime) -> str:
    """How long the caller has waited, in words for an alert: since their last text or form, or since the
    conversation started."""
    since = conversation.last_inbound_at or conversation.created_at
    minutes = max(1, int((now - since).total_seconds() // 60))
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"


def _record_missed(conversation: Conversation, *, step: str, told: list[int], reason: str) -> None:
    """The timeline entry (shown as "Automatically escalated this: <reason>"), the audit entry and the live
    bump for a missed answer-time target."""
    ConversationEvent.objects.create(
        business_id=conversation.business_id,
        conversation=conversation,
        kind=ConversationEvent.Kind.ESCALATED,
        actor=None,
        data={"rule": "sla", "step": step, "reason": reason, "told": told},
    )
    audit(
        business=conversation.business,
        action="conversation.sla_missed",
        target=conversation,
        step=step,
        told=told,
        waiting_since=(conversation.last_inbound_at or conversation.created_at).isoformat(),
    )
    live.touch(conversation.business_id, conversation.pk)


def _still_waiting(conversation: Conversation, settings: ResponseSettings) -> bool:
    return settings.sla_enabled and conversation.status in WAITING_ON_BUSINESS


@handles(Timer.Kind.SLA_ASSIGNEE)
def sla_remind_assignee(timer: Timer, conversation: Conversation, now: dt.datetime) -> None:
    """The caller has waited past the target: remind the assignee (or, with nobody assigned or the assignee gone,
    every member who follows unassigned conversations' texts) and give the team the same target again before the
    owners are told. Runs inside the timer's firing transaction with the conversation locked. Does nothing for a
    conversation no longer waiting on the business (closed, waiting on the caller, snoozed) or when the owner
    turned answer times off since."""
    from inbox.notifications import notify_answer_time, team

    business = conversation.business
    settings = settings_for(business)
    if not _still_waiting(conversation, settings):
        return
    members = team(conversation.business_id, "notify_new_message")
    # An assignee is reminded whatever their new-message preference: this is the safety net behind it.
    users = [conversation.assignee_id] if conversation.assignee_id in members.wants else members.everyone()
    waited = _waited(conversation, now)
    caller = pretty(conversation.contact.phone)
    notify_answer_time(conversation, user_ids=users, text=f"No answer yet: {caller} has waited {waited}")
    timer_schedule(
        conversation=conversation,
        kind=Timer.Kind.SLA_OWNER,
        due_at=sla_deadline(business=business, now=now, settings=settings),
    )
    who = "the assignee" if users == [conversation.assignee_id] else "the team" if users else "nobody (alerts are off)"
    _record_missed(conversation, step="assignee", told=users, reason=f"no answer after {waited}, reminded {who}")


@handles(Timer.Kind.SLA_OWNER)
def sla_tell_owners(timer: Timer, conversation: Conversation, now: dt.datetime) -> None:
    """The reminder did not help either: tell the business's owners. Same transaction and conditions as the
    reminder."""
    from inbox.notifications import notify_answer_time

    settings = settings_for(conversation.business)
    if not _still_waiting(conversation, settings):
        return
    owners = list(
        Membership.objects.filter(
            business_id=conversation.business_id, role=Membership.Role.OWNER, user__is_active=True
        ).values_list("user_id", flat=True)
    )
    waited = _waited(conversation, now)
    caller = pretty(conversation.contact.phone)
    assigned = conversation.assignee.display_name if conversation.assignee_id else "nobody"
    notify_answer_time(
        conversation, user_ids=owners, text=f"Still no answer: {caller} has waited {waited} (assigned to {assigned})"
    )
    _record_missed(conversation, step="owner", told=owners, reason=f"no answer after {waited}, told the owners")


# --- the follow-up nudge ------------------------------------------------------------------------------------------


def follow_up_schedule(*, conversation: Conversation, now: dt.datetime) -> Timer | None:
    """The text-back was just queued: nudge the caller after the business's delay if they stay silent. Run in the
    missed-call transaction with the conversation locked. A later text-back in the same conversation moves the
    pending timer to its own delay. Returns None when follow-ups are off or this conversation already had one."""
    if conversation.follow_up_sent_at is not None:
        return None
    settings = settings_for(conversation.business)
    if not settings.follow_up_enabled:
        return None
    due_at = now + dt.timedelta(minutes=settings.follow_up_delay_minutes)
    return timer_schedule(conversation=conversation, kind=Timer.Kind.FOLLOW_UP, due_at=due_at)


def follow_up_text(*, business: Business, template: str, contact_name: str, intake_link: str) -> templating.Rendered:
    """The follow-up as the caller reads it: the owner's template (the text-back templates' variables) or our
    default, with the opt-out line. A stored template that no longer renders falls back to the default."""
    context = templating.template_context(business=business, contact_name=contact_name, intake_url=intake_link)
    try:
        return templating.render(template or DEFAULT_FOLLOW_UP, context, opt_out_footer=True)
    except templating.TemplateError:
        logger.exception("follow-up template of business %s does not render; using the default", business.pk)
        return templating.render(DEFAULT_FOLLOW_UP, context, opt_out_footer=True)


TEXTBACK_PENDING = "the text-back has not gone out yet"


def follow_up_blocker(conversation: Conversation, *, settings: ResponseSettings) -> str | None:
    """Why the follow-up must not go now, or None when it should. Reads the conversation's messages and intake
    link; the caller's consent is checked separately, last (it reads the ledger)."""
    from intake.models import IntakeLink
    from messaging.models import Message

    if conversation.follow_up_sent_at is not None:
        return "already sent"
    if not settings.follow_up_enabled:
        return "follow-ups are off"
    if conversation.status not in WAITING_ON_BUSINESS:
        return f"conversation is {conversation.status}"
    if conversation.phone_number_id is None:
        return "no business number"
    textback = (
        Message.objects.filter(conversation=conversation, kind=Message.Kind.TEXTBACK)
        .order_by("-created_at")
        .values("created_at", "status")
        .first()
    )
    if textback is None:
        return "no text-back"
    if textback["status"] in (Message.Status.FAILED, Message.Status.UNDELIVERED):
        return "the text-back did not reach the caller"  # a landline or a dead number: a second text fares no better
    if textback["status"] not in (Message.Status.SENT, Message.Status.DELIVERED):
        return TEXTBACK_PENDING  # still held (quiet hours, retries): two texts back to back would read as spam
    if conversation.first_response_at is not None:
        return "the team already answered (a reply or a call back)"
    textback_at = textback["created_at"]
    answered = Message.objects.filter(conversation=conversation, created_at__gt=textback_at).filter(
        Q(direction=Message.Direction.INBOUND) | Q(kind=Message.Kind.REPLY)
    )
    if answered.exists():
        return "the caller or the team wrote since the text-back"
    link = IntakeLink.objects.filter(conversation=conversation).values("opened_at", "submitted_at").first()
    if link is not None and (link["opened_at"] or link["submitted_at"]):
        return "the caller opened the intake link"
    return None


@handles(Timer.Kind.FOLLOW_UP)
def follow_up_send(timer: Timer, conversation: Conversation, now: dt.datetime):
    """Queue the one follow-up if the caller is still silent (see follow_up_blocker) and has not opted out. Runs
    inside the timer's firing transaction with the contact and conversation locked, so a STOP or a reply arriving
    meanwhile is either seen here or comes after the row exists (the sending worker checks suppression again).
    The row's first attempt is the caller's next allowed time (quiet hours, by their number). Returns the Message,
    or None when nothing was queued."""
    from intake.services import intake_link_for, intake_url
    from messaging.models import Message
    from messaging.services import message_queue_automatic

    business = conversation.business
    settings = settings_for(business)
    blocker = follow_up_blocker(conversation, settings=settings)
    contact = conversation.contact
    if blocker is None and consent_state(business=business, phone=contact.phone) == "opted_out":
        blocker = "the number opted out"
    if blocker == TEXTBACK_PENDING:
        # try again a whole delay after now, so the nudge still comes that long after the text-back went out
        delay = dt.timedelta(minutes=settings.follow_up_delay_minutes)
        timer_schedule(conversation=conversation, kind=Timer.Kind.FOLLOW_UP, due_at=now + delay)
        logger.info("follow-up for conversation %s waits: %s", conversation.pk, blocker)
        return None
    if blocker is not None:
        logger.info("no follow-up for conversation %s: %s", conversation.pk, blocker)
        return None
    try:
        first_attempt = next_allowed_send(contact.phone, now)
    except NoSendWindowError:
        logger.warning("no follow-up for conversation %s: its number never has a send window", conversation.pk)
        return None
    link = intake_link_for(conversation=conversation, now=now)
    rendered = follow_up_text(
        business=business, template=settings.follow_up_template, contact_name=contact.name, intake_link=intake_url(link)
    )
    # Held for quiet hours, the row waits with a later due time and the outbound sweeper sends it when the window
    # opens; due now, it is rung after commit.
    message, _ = message_queue_automatic(
        business=business,
        conversation=conversation,
        number=conversation.phone_number,
        to=contact.phone,
        body=rendered.body,
        kind=Message.Kind.FOLLOW_UP,
        key=f"follow_up:{conversation.pk}",
        detail=f"follow_up:{settings.follow_up_delay_minutes}min",
        now=now,
        due_at=first_attempt,
    )
    conversation.follow_up_sent_at = now
    conversation.save(update_fields=["follow_up_sent_at"])
    audit(
        business=business,
        action="conversation.follow_up",
        target=conversation,
        message_id=message.pk,
        held_until=first_attempt.isoformat() if first_attempt > now else None,
    )
    live.touch(business.pk, conversation.pk)
    return message

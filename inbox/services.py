"""Writes to contacts and conversations."""

import datetime as dt
from collections.abc import Mapping, Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from inbox import live
from inbox.models import Contact, Conversation
from inbox.notifications import notify_new_conversation
from inbox.routing import route_new_conversation
from messaging.models import Message
from secdesk.orm import upsert
from telephony.models import Call
from tenants.models import Business


def contact_get_locked(
    *, business: Business, phone: str, extra: Mapping[str, str] | None = None, params: Sequence = ()
) -> Contact:
    """The contact for (business, E.164 number), created if new, in one statement (INSERT ... ON CONFLICT DO
    UPDATE), which also row-locks it for the rest of the transaction. The lock serialises everything that happens
    to one caller (two missed calls, a call and a text). Must run inside a transaction. `contact.created_now`
    says whether this call created it. `extra`/`params` ask more (secdesk.orm.upsert): in the same statement for a
    new contact; after the lock for an existing one, so the answers include what the previous holder of the lock
    committed (a call of theirs at the same moment, already texted)."""
    contact, created = upsert(
        Contact(business=business, phone=phone), conflict=["business", "phone"], extra=extra, params=params, reread=True
    )
    contact.created_now = created
    contact.business = business  # the caller's copy, with whatever it has loaded (hours, settings): no re-read
    return contact


def conversation_open_for(
    *, contact: Contact, at: dt.datetime, phone_number=None, zip_code: str = ""
) -> tuple[Conversation, bool]:
    """The contact's open conversation, or a new one. Must run with the contact row locked (contact_get_locked):
    every writer takes that lock first, so the plain insert cannot race; the partial unique constraint (one open
    conversation per contact) would turn a forgotten lock into an error, never into a second thread. `zip_code`:
    the carrier's guess for the caller's ZIP, for territory routing; a ZIP the caller gave us before wins."""
    # A contact created in this transaction has no conversations to look for.
    if not getattr(contact, "created_now", False):
        conversation = (
            Conversation.objects.select_for_update()
            .filter(business_id=contact.business_id, contact=contact, status__in=Conversation.OPEN_STATUSES)
            .first()
        )
        if conversation is not None:
            return conversation, False
    conversation = Conversation.objects.create(
        business=contact.business, contact=contact, phone_number=phone_number, last_activity_at=at
    )
    # Nothing can hang off a row nobody else can see yet: for the rest of this transaction its intake link is
    # known to be missing (the text-back creates it without looking first, and without a savepoint).
    conversation.created_now = True
    transaction.on_commit(lambda: conversation.__dict__.pop("created_now", None))
    conversation_started(conversation, zip_code=contact.zip_code or zip_code)
    return conversation, True


def conversation_started(conversation: Conversation, *, zip_code: str = "") -> None:
    """Everything that follows a new conversation, inside the transaction that created it (with the contact
    locked): the assignment rule runs (first, so what follows knows the assignee), members who want it are
    alerted, the answer-time timer starts, open inbox pages are told."""
    from inbox.sla import sla_start

    route_new_conversation(conversation, zip_code=zip_code)
    notify_new_conversation(conversation)
    sla_start(conversation=conversation, now=conversation.created_at, fresh=True)
    live.touch(conversation.business_id, conversation.pk)
    from integrations import outbound

    outbound.conversation_created(conversation)


# Asked about a missed call's caller while their contact is locked: another call of theirs, texted back inside the
# repeat window; and any text we ever sent them.
_CALLED_RECENTLY = (
    f"EXISTS (SELECT 1 FROM {Call._meta.db_table} other WHERE other.business_id = upserted.business_id "  # noqa: S608
    "AND other.caller = upserted.phone AND other.decision = %s AND other.started_at >= %s AND other.id <> %s)"
)
_TEXTED_BEFORE = (
    f"EXISTS (SELECT 1 FROM {Message._meta.db_table} sent WHERE sent.business_id = upserted.business_id "  # noqa: S608
    "AND sent.to_number = upserted.phone AND sent.direction = %s)"
)


def conversation_for_missed_call(*, call, at: dt.datetime) -> tuple[Contact, Conversation, bool, bool]:
    """Contact and open conversation for a missed call; whether it is a repeat call inside the business's window
    (then the conversation is bumped and no second text-back is queued); and whether the caller has ever been
    texted by this business. Runs inside the missed-call transaction, with the call locked."""
    from inbox.urgency import check_repeat_calls

    business = call.business
    contact = contact_get_locked(
        business=business,
        phone=call.caller,
        # Asked in the statement that takes the contact's lock.
        extra={"is_repeat": _CALLED_RECENTLY, "texted_before": _TEXTED_BEFORE},
        params=[
            Call.Decision.TEXTED,
            at - dt.timedelta(minutes=business.repeat_call_window_minutes),
            call.pk,
            Message.Direction.OUTBOUND,
        ],
    )
    conversation, created = conversation_open_for(
        contact=contact, at=at, phone_number=call.phone_number, zip_code=call.caller_zip
    )
    if not created:
        conversation.last_activity_at = at
        fields = ["last_activity_at"]
        if contact.is_repeat:
            conversation.repeat_call_count += 1
            fields.append("repeat_call_count")
        if conversation.status in (Conversation.Status.WAITING, Conversation.Status.SNOOZED):
            conversation.status = Conversation.Status.OPEN
            fields.append("status")
        conversation.save(update_fields=fields)
        # a caller who keeps calling is urgent (a first call cannot be a third, so new conversations need no check)
        check_repeat_calls(conversation=conversation, caller=call.caller, at=at)
    live.touch(conversation.business_id, conversation.pk)
    return contact, conversation, contact.is_repeat, contact.texted_before


REPLY_MAX_CHARS = 1600  # Twilio's limit for one message body (it splits it into at most 10-ish segments)


def _reply_body(body: str) -> str:
    """The body as it will be sent: browsers submit textarea line breaks as CRLF; a carrier bills each CR, so
    line endings become LF (the composer's live counter counts them the same way)."""
    return (body or "").replace("\r\n", "\n").replace("\r", "\n").strip()


@transaction.atomic
def message_reply(*, conversation: Conversation, body: str, user) -> Message:
    """Queue an operator's reply in `conversation` and return the Message. Runs in one transaction; not
    idempotent (each call is a new text). Raises ValidationError, writing nothing, when the body is empty or over
    1600 characters, the conversation has no business number to send from, or the number opted out. Takes the
    contact's row lock first (the lock order every writer uses), so an opt-out racing with this reply either is
    seen here or fails the queued row itself; the worker re-checks suppression before sending in any case. The
    send task is enqueued after commit; an open conversation moves to "waiting on caller" (a booked, lost or
    closed one keeps its outcome). Writes the audit entry "conversation.reply" (message id only, no body)."""
    from compliance.services import audit, consent_state
    from inbox.actions import human_acted
    from messaging.segments import analyse
    from messaging.services import enqueue_send

    text = _reply_body(body)
    if not text:
        raise ValidationError("Write a message before sending.", code="empty")
    if len(text) > REPLY_MAX_CHARS:
        raise ValidationError(
            f"A text can be at most {REPLY_MAX_CHARS} characters; this one has {len(text)}.", code="too_long"
        )
    contact = Contact.objects.select_for_update().get(pk=conversation.contact_id, business_id=conversation.business_id)
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("business", "phone_number")
        .get(pk=conversation.pk, business_id=conversation.business_id)
    )
    number = conversation.phone_number
    if number is None:
        raise ValidationError("This conversation has no business number to reply from.", code="no_number")
    if consent_state(business=conversation.business, phone=contact.phone) == "opted_out":
        raise ValidationError(
            "This number opted out (replied STOP). You can't text them until they reply START.", code="opted_out"
        )
    info = analyse(text)
    now = timezone.now()
    message = Message.objects.create(
        business=conversation.business,
        conversation=conversation,
        phone_number=number,
        direction=Message.Direction.OUTBOUND,
        kind=Message.Kind.REPLY,
        from_number=number.e164,
        to_number=contact.phone,
        body=text,
        encoding=info.encoding,
        segments=info.segments,
        status=Message.Status.QUEUED,
        provider=number.provider,
        trigger=Message.Trigger.USER,
        trigger_detail="inbox",
        sent_by=user,
        queued_at=now,
        next_attempt_at=now,
    )
    conversation.last_outbound_at = now
    conversation.last_activity_at = now
    fields = ["last_outbound_at", "last_activity_at"]
    if conversation.first_response_at is None:  # the first human answer (the automatic text-back does not count)
        conversation.first_response_at = now
        fields.append("first_response_at")
    if conversation.is_open and conversation.status != Conversation.Status.WAITING:
        conversation.status = Conversation.Status.WAITING
        fields.append("status")
    conversation.save(update_fields=fields)
    live.touch(conversation.business_id, conversation.pk)
    human_acted(conversation=conversation, user=user, action="conversation.reply")
    audit(
        business=conversation.business,
        action="conversation.reply",
        actor=user,
        target=conversation,
        message_id=message.pk,
        segments=info.segments,
    )
    enqueue_send(message.pk)
    return message

"""Writes to messages: queueing outbound texts (a row first, the task on commit) and applying carrier events."""

import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from inbox import live
from inbox.models import Conversation
from inbox.notifications import notify_inbound_message
from inbox.services import contact_get_locked, conversation_open_for
from inbox.sla import follow_up_schedule, sla_start
from inbox.urgency import check_text
from intake.services import intake_link_for, intake_url
from messaging import templating
from messaging.errors import plain_error
from messaging.models import Message, TextbackSettings
from messaging.segments import analyse

logger = logging.getLogger(__name__)
FAST_PATH_MAX_DELAY = 0  # seconds; anything later is left to the sweeper


def enqueue_send(message_id: int) -> None:
    """Ring the doorbell after commit. If this is lost (Redis down, process killed), the sweeper finds the row."""
    from messaging.tasks import send_message_task

    def _enqueue():
        try:
            send_message_task.delay(message_id)
        except Exception:  # the broker is only a doorbell: the row is safe and the sweeper will send it
            logger.warning("could not enqueue message %s; the sweeper will pick it up", message_id, exc_info=True)

    transaction.on_commit(_enqueue)


def textback_settings_for(business) -> TextbackSettings:
    """The business's text-back settings, created with the defaults the first time they are needed."""
    try:
        return business.textback_settings  # usually already loaded with the number (select_related)
    except TextbackSettings.DoesNotExist:
        pass
    settings_, _ = TextbackSettings.objects.get_or_create(
        business=business,
        defaults={"open_template": templating.DEFAULT_OPEN, "closed_template": templating.DEFAULT_CLOSED},
    )
    return settings_


def message_queue_textback(*, call, conversation, first_text: bool) -> Message:
    """Queue the text-back for a missed call. Must run inside the missed-call transaction. Idempotent: the
    unique key "textback:<call id>" makes a second row for the same call impossible."""
    business = call.business
    number = call.phone_number
    # No "already queued?" query: the caller holds the call lock and only a ringing call gets here; the unique
    # idempotency key is the backstop.
    config = textback_settings_for(business)
    open_now = business.is_open(call.started_at)
    template = config.open_template if open_now else config.closed_template
    link = intake_link_for(conversation=conversation)
    context = templating.template_context(
        business=business, contact_name=conversation.contact.name, intake_url=intake_url(link)
    )
    try:
        rendered = templating.render(template, context, opt_out_footer=first_text)
    except templating.TemplateError:
        # A stored template that no longer validates must never cost the caller their text: use the default.
        logger.exception("text-back template of business %s does not render; using the default", business.pk)
        default = templating.DEFAULT_OPEN if open_now else templating.DEFAULT_CLOSED
        rendered = templating.render(default, context, opt_out_footer=first_text)
    now = timezone.now()
    message = Message.objects.create(
        business=business,
        conversation=conversation,
        phone_number=number,
        direction=Message.Direction.OUTBOUND,
        kind=Message.Kind.TEXTBACK,
        from_number=number.e164,
        to_number=call.caller,
        body=rendered.body,
        encoding=rendered.encoding,
        segments=rendered.segments,
        status=Message.Status.QUEUED,
        provider=number.provider,
        idempotency_key=f"textback:{call.provider_call_id}",
        trigger=Message.Trigger.RULE,
        trigger_detail=f"missed_call:{call.provider_call_id}:{'open' if open_now else 'closed'}_template",
        queued_at=now,
        next_attempt_at=now + dt.timedelta(seconds=config.delay_seconds),
    )
    if config.delay_seconds <= FAST_PATH_MAX_DELAY:
        enqueue_send(message.pk)
    # A longer delay is a row with a due time: the sweeper sends it when due (no long Celery countdowns).
    follow_up_schedule(conversation=conversation, now=now)
    return message


def message_queue_automatic(
    *,
    business,
    number,
    to: str,
    body: str,
    kind: str,
    key: str,
    detail: str,
    trigger: str = Message.Trigger.RULE,
    conversation=None,
    now: dt.datetime | None = None,
    due_at: dt.datetime | None = None,
) -> tuple[Message, bool]:
    """Queue a text nobody typed (a rule's or the system's) from `number` to `to`, at most once per `key` (a unique
    column, so a replay or a second sweeper finds the first row: returned with False). Runs in the caller's
    transaction; the send is rung after commit when the row is new and due now (`due_at` later, e.g. after the
    recipient's quiet hours: the outbound sweeper sends it then). `conversation` None is a team member's text,
    in no caller's thread."""
    now = now or timezone.now()
    due_at = due_at or now
    info = analyse(body)
    message, created = Message.objects.get_or_create(
        idempotency_key=key,
        defaults={
            "business": business,
            "conversation": conversation,
            "phone_number": number,
            "direction": Message.Direction.OUTBOUND,
            "kind": kind,
            "from_number": number.e164,
            "to_number": to,
            "body": body,
            "encoding": info.encoding,
            "segments": info.segments,
            "status": Message.Status.QUEUED,
            "provider": number.provider,
            "trigger": trigger,
            "trigger_detail": detail[:120],
            "queued_at": now,
            "next_attempt_at": due_at,
        },
    )
    if created and due_at <= now:
        enqueue_send(message.pk)
    return message, created


def message_queue_system_reply(*, inbound: Message, number, kind: str, body: str, rule: str) -> Message:
    """Queue an automatic answer to an inbound message (help text, opt-out confirmation) in its conversation.
    Runs in the inbound message's transaction; at most one per inbound message and rule (unique key)."""
    message, _ = message_queue_automatic(
        business=inbound.business,
        conversation=inbound.conversation,
        number=number,
        to=inbound.from_number,
        body=body,
        kind=kind,
        key=f"{rule}:{inbound.provider_message_id or inbound.pk}",
        detail=f"{rule}:{inbound.provider_message_id}",
    )
    return message


# Twilio's status ranks (CARRIER-NOTES.md): callbacks arrive out of order, so a status only ever moves forward.
STATUS_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
    "read": 5,
}
OUR_STATUS = {
    "accepted": Message.Status.SENT,
    "scheduled": Message.Status.SENT,
    "queued": Message.Status.SENT,
    "sending": Message.Status.SENT,
    "sent": Message.Status.SENT,
    "delivered": Message.Status.DELIVERED,
    "read": Message.Status.DELIVERED,
    "undelivered": Message.Status.UNDELIVERED,
    "failed": Message.Status.FAILED,
    "canceled": Message.Status.FAILED,
}


@transaction.atomic
def message_apply_status(
    *,
    provider_message_id: str,
    status: str,
    error_code: str,
    message_hint: int | None = None,
    account_id: str | None = None,
) -> Message | None:
    """Apply a carrier delivery status. Only moves forward (an old `sent` after `delivered` changes nothing);
    replays change nothing. `message_hint` is our id from the callback URL: it settles a message whose send was
    ambiguous (we never learnt its carrier id). Returns the message, or None when it is not ours."""
    from messaging.sending import credentials_for

    rank = STATUS_RANK.get(status)
    if rank is None:
        logger.warning("ignoring unknown message status %r", status)
        return None
    message = Message.objects.select_for_update().filter(provider_message_id=provider_message_id).first()
    if message is None and message_hint is not None:
        message = (
            Message.objects.select_for_update()
            .filter(pk=message_hint, provider_message_id__isnull=True, direction=Message.Direction.OUTBOUND)
            .first()
        )
        if message is not None:
            message.provider_message_id = provider_message_id
    if message is None:
        return None
    if account_id is not None:
        # A signature proves which account sent the callback; it must be the account that sent the message.
        credentials = credentials_for(message)
        if credentials is None or credentials.account_id != account_id:
            logger.warning("status callback for message %s from a foreign account", message.pk)
            return None
    if rank <= message.status_rank:
        return message  # stale or replayed: statuses only move forward
    now = timezone.now()
    new = OUR_STATUS[status]
    message.status, message.status_rank = new, max(rank, message.status_rank)
    message.next_attempt_at = None
    if new == Message.Status.SENT:
        message.sent_at = message.sent_at or now
    elif new == Message.Status.DELIVERED:
        message.delivered_at = message.delivered_at or now
        message.sent_at = message.sent_at or now
        message.error_code = message.error_message = ""
    else:
        message.failed_at = message.failed_at or now
        message.error_code = error_code[:10]
        message.error_message = plain_error(error_code, "The carrier could not deliver this message.")
    message.save()
    if message.conversation_id is not None:
        live.touch(message.business_id, message.conversation_id)
    if new in (Message.Status.UNDELIVERED, Message.Status.FAILED) and message.kind != Message.Kind.NOTIFICATION:
        from integrations import outbound

        outbound.message_failed(message)  # once: statuses only move forward, so a replay returned above
    if new in (Message.Status.UNDELIVERED, Message.Status.FAILED) and error_code == "21610":
        # After commit: the opt-out locks the contact, and the lock order everywhere is contact before message.
        transaction.on_commit(lambda: _carrier_block(message.pk))
    return message


def _carrier_block(message_id: int) -> None:
    from compliance.services import consent_carrier_block

    message = Message.objects.select_related("business").get(pk=message_id)
    consent_carrier_block(business=message.business, number=message.to_number, message=message)


def message_receive(*, number, event) -> tuple[Message, bool]:
    """Store an inbound SMS/MMS in the caller's open conversation (reopening or creating one). Idempotent by the
    carrier's message id: a replay returns the stored row and `False`. Media is fetched after commit."""
    from secdesk.phone import to_e164_or_blank

    sender = to_e164_or_blank(event.from_raw)
    if not sender:
        raise ValueError("inbound message without a valid sender")
    with transaction.atomic():
        existing = Message.objects.filter(provider_message_id=event.message_id).first()
        if existing is not None:
            return existing, False
        # A teammate answering a page ("1" to take it) is not a caller: handled before any caller row is touched,
        # compliance keywords still first (see inbox.escalation.page_reply_receive).
        from inbox.escalation import page_reply_receive

        page_reply = page_reply_receive(number=number, sender=sender, event=event)
        if page_reply is not None:
            return page_reply
        now = timezone.now()
        contact = contact_get_locked(business=number.business, phone=sender)
        conversation, _ = conversation_open_for(contact=contact, at=now, phone_number=number)
        message, created = inbound_store(number=number, event=event, sender=sender, conversation=conversation)
        if not created:
            return message, False
        # Compliance keywords first, before anything else reacts to the message.
        from compliance.inbound import handle_keywords

        keyword = handle_keywords(message=message, number=number, carrier_opt_out_type=event.opt_out_type)
        conversation.last_inbound_at = now
        conversation.last_activity_at = now
        fields = ["last_inbound_at", "last_activity_at"]
        if conversation.status in (Conversation.Status.WAITING, Conversation.Status.SNOOZED):
            conversation.status = Conversation.Status.OPEN
            fields.append("status")
        conversation.save(update_fields=fields)
        live.touch(conversation.business_id, conversation.pk)
        if keyword == "none":  # STOP, START and HELP are answered by the compliance code, not by a person
            check_text(conversation=conversation, text=event.body)
            notify_inbound_message(message)
            sla_start(conversation=conversation, now=now)
            from integrations import outbound

            outbound.message_received(message)
        if message.media:
            from messaging.tasks import fetch_media_task

            # robust: a down broker must not turn the committed message into a 500 (the error is logged)
            transaction.on_commit(lambda: fetch_media_task.delay(message.pk), robust=True)
    return message, True


def inbound_store(*, number, event, sender: str, conversation) -> tuple[Message, bool]:
    """Insert an inbound text's row (in `conversation`, or in none for a team member's text), idempotent by the
    carrier's message id: when the same webhook committed on another worker meanwhile, that row and False."""
    try:
        with transaction.atomic():
            message = Message.objects.create(
                business=number.business,
                conversation=conversation,
                phone_number=number,
                direction=Message.Direction.INBOUND,
                kind=Message.Kind.INBOUND,
                from_number=sender,
                to_number=number.e164,
                body=event.body,
                media=[{"url": url, "content_type": ctype} for url, ctype in event.media],
                media_pending=bool(event.media),
                status=Message.Status.RECEIVED,
                provider=number.provider,
                provider_message_id=event.message_id,
                trigger=Message.Trigger.USER,
                **_segment_fields(event.body),
            )
    except IntegrityError:
        return Message.objects.get(provider_message_id=event.message_id), False
    return message, True


def _segment_fields(body: str) -> dict:
    info = analyse(body)
    return {"encoding": info.encoding, "segments": info.segments}

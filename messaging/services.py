"""Writes to messages: queueing outbound texts (a row first, the task on commit) and applying carrier events."""

import logging

from django.db import transaction
from django.utils import timezone

from messaging import templating
from messaging.models import Message

logger = logging.getLogger(__name__)


def enqueue_send(message_id: int) -> None:
    """Ring the doorbell after commit. If this is lost (Redis down, process killed), the sweeper finds the row."""
    from messaging.tasks import send_message_task

    def _enqueue():
        try:
            send_message_task.delay(message_id)
        except Exception:  # the broker is only a doorbell: the row is safe and the sweeper will send it
            logger.warning("could not enqueue message %s; the sweeper will pick it up", message_id, exc_info=True)

    transaction.on_commit(_enqueue)


def _is_first_text_to(business, number: str) -> bool:
    return not Message.objects.filter(
        business=business, to_number=number, direction=Message.Direction.OUTBOUND
    ).exists()


def message_queue_textback(*, call, conversation) -> Message:
    """Queue the text-back for a missed call. Must run inside the missed-call transaction. Idempotent: the
    unique key "textback:<call id>" means a replayed webhook finds the existing row instead of adding one."""
    business = call.business
    number = call.phone_number
    existing = Message.objects.filter(idempotency_key=f"textback:{call.provider_call_id}").first()
    if existing is not None:
        return existing
    open_now = business.is_open(call.started_at)
    template = templating.DEFAULT_OPEN if open_now else templating.DEFAULT_CLOSED
    context = templating.template_context(business=business, contact_name=conversation.contact.name)
    rendered = templating.render(template, context, opt_out_footer=_is_first_text_to(business, call.caller))
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
        trigger_detail=f"missed_call:{call.provider_call_id}",
        queued_at=now,
        next_attempt_at=now,
    )
    enqueue_send(message.pk)
    return message

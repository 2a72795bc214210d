"""Writes to contacts and conversations."""

import datetime as dt

from django.db.models import Exists

from inbox.models import Contact, Conversation
from tenants.models import Business


def contact_get_locked(*, business: Business, phone: str, **annotations) -> Contact:
    """The contact for (business, E.164 number), created if new, in one statement (INSERT ... ON CONFLICT DO
    UPDATE), which also row-locks it for the rest of the transaction. The lock serialises everything that happens
    to one caller (two missed calls, a call and a text). Must run inside a transaction."""
    [contact] = Contact.objects.bulk_create(
        [Contact(business=business, phone=phone)],
        update_conflicts=True,
        unique_fields=["business", "phone"],
        update_fields=["phone"],  # a no-op update: returns the existing row's id and locks it
    )
    return Contact.objects.annotate(**annotations).get(pk=contact.pk)


def conversation_open_for(*, contact: Contact, at: dt.datetime, phone_number=None) -> tuple[Conversation, bool]:
    """The contact's open conversation, or a new one. Must run with the contact row locked (contact_get_locked):
    every writer takes that lock first, so the plain insert cannot race; the partial unique constraint (one open
    conversation per contact) would turn a forgotten lock into an error, never into a second thread."""
    conversation = (
        Conversation.objects.select_for_update()
        .filter(business_id=contact.business_id, contact=contact, status__in=Conversation.OPEN_STATUSES)
        .first()
    )
    if conversation is not None:
        return conversation, False
    conversation = Conversation.objects.create(
        business_id=contact.business_id, contact=contact, phone_number=phone_number, last_activity_at=at
    )
    return conversation, True


def conversation_for_missed_call(*, call, at: dt.datetime) -> tuple[Contact, Conversation, bool, bool]:
    """Contact and open conversation for a missed call; whether it is a repeat call inside the business's window
    (then the conversation is bumped and no second text-back is queued); and whether the caller has ever been
    texted by this business. Runs inside the missed-call transaction, with the call locked."""
    from messaging.models import Message
    from telephony.models import Call

    business = call.business
    window_start = at - dt.timedelta(minutes=business.repeat_call_window_minutes)
    contact = contact_get_locked(
        business=business,
        phone=call.caller,
        # Asked in the same query that reads the locked contact back.
        is_repeat=Exists(
            Call.objects.filter(
                business=business, caller=call.caller, decision=Call.Decision.TEXTED, started_at__gte=window_start
            ).exclude(pk=call.pk)
        ),
        texted_before=Exists(
            Message.objects.filter(business=business, to_number=call.caller, direction=Message.Direction.OUTBOUND)
        ),
    )
    conversation, created = conversation_open_for(contact=contact, at=at, phone_number=call.phone_number)
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
    return contact, conversation, contact.is_repeat, contact.texted_before

"""Writes to contacts and conversations."""

import datetime as dt

from django.db import IntegrityError, transaction

from inbox.models import Contact, Conversation
from tenants.models import Business


def contact_get_locked(*, business: Business, phone: str) -> Contact:
    """The contact for (business, E.164 number), created if new, in one statement (INSERT ... ON CONFLICT DO
    UPDATE), which also row-locks it for the rest of the transaction. The lock serialises everything that happens
    to one caller (two missed calls, a call and a text). Must run inside a transaction."""
    [contact] = Contact.objects.bulk_create(
        [Contact(business=business, phone=phone)],
        update_conflicts=True,
        unique_fields=["business", "phone"],
        update_fields=["phone"],  # a no-op update: returns the existing row's id and locks it
    )
    return Contact.objects.get(pk=contact.pk)


def conversation_open_for(*, contact: Contact, at: dt.datetime, phone_number=None) -> tuple[Conversation, bool]:
    """The contact's open conversation, or a new one. Call with the contact locked. The partial unique constraint
    (one open conversation per contact) backs this up if a caller forgot the lock."""
    conversation = (
        Conversation.objects.select_for_update()
        .filter(business_id=contact.business_id, contact=contact, status__in=Conversation.OPEN_STATUSES)
        .first()
    )
    if conversation is not None:
        return conversation, False
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(
                business_id=contact.business_id, contact=contact, phone_number=phone_number, last_activity_at=at
            )
    except IntegrityError:
        conversation = Conversation.objects.select_for_update().get(
            business_id=contact.business_id, contact=contact, status__in=Conversation.OPEN_STATUSES
        )
        return conversation, False
    return conversation, True


def conversation_for_missed_call(*, call, at: dt.datetime) -> tuple[Contact, Conversation, bool]:
    """Contact and open conversation for a missed call, and whether it is a repeat call inside the business's
    window (then the conversation is bumped and no second text-back is queued). Runs inside the missed-call
    transaction, with the call locked."""
    from telephony.models import Call

    business = call.business
    contact = contact_get_locked(business=business, phone=call.caller)
    window_start = at - dt.timedelta(minutes=business.repeat_call_window_minutes)
    is_repeat = (
        Call.objects.filter(
            business=business, caller=call.caller, decision=Call.Decision.TEXTED, started_at__gte=window_start
        )
        .exclude(pk=call.pk)
        .exists()
    )
    conversation, created = conversation_open_for(contact=contact, at=at, phone_number=call.phone_number)
    if not created:
        conversation.last_activity_at = at
        fields = ["last_activity_at"]
        if is_repeat:
            conversation.repeat_call_count += 1
            fields.append("repeat_call_count")
        if conversation.status in (Conversation.Status.WAITING, Conversation.Status.SNOOZED):
            conversation.status = Conversation.Status.OPEN
            fields.append("status")
        conversation.save(update_fields=fields)
    return contact, conversation, is_repeat

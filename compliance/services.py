"""Writes to the consent ledger and the audit log. The contact's `opted_out` flag is a cache of the ledger, kept in
the same transaction as the event that changes it."""

from django.db import transaction
from django.utils import timezone

from compliance.models import AuditEvent, ConsentEvent, number_hash
from inbox.models import Contact


def audit(*, business, action: str, actor=None, target=None, target_type: str = "", target_id="", **detail) -> None:
    """Append one audit entry (who, what, when). Runs in the caller's transaction."""
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or target.pk
    AuditEvent.objects.create(
        business=business,
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=str(target_id or ""),
        detail=detail,
    )


def consent_record(
    *,
    business,
    phone: str,
    kind: str,
    source_ref: str = "",
    call=None,
    message=None,
    raw_text: str = "",
    matched: str = "",
    disclosure_text: str = "",
    actor=None,
    note: str = "",
    review: str = "",
) -> ConsentEvent:
    """Add an event to the ledger and, for events that change the state, update the contact's cached flag in the
    same transaction. An opt-out also fails every queued text to that number at once, under the rows' locks, so a
    send that has not been claimed yet never happens."""
    with transaction.atomic(savepoint=False):  # no savepoint round trips on the missed-call hot path
        event = ConsentEvent.objects.create(
            business=business,
            phone=phone,
            phone_hash=number_hash(business.pk, phone),
            kind=kind,
            source_ref=source_ref[:64],
            call=call,
            message=message,
            raw_text=raw_text,
            matched=matched[:60],
            disclosure_text=disclosure_text,
            actor=actor,
            note=note[:300],
            review=review,
        )
        if kind in ConsentEvent.STATE_KINDS:
            opted_out = kind in ConsentEvent.OPTED_OUT_KINDS
            Contact.objects.filter(business=business, phone=phone).update(opted_out=opted_out)
            if opted_out:
                suppress_queued(business=business, phone=phone)
                from integrations import outbound

                outbound.contact_opted_out(event)
    return event


def suppress_queued(*, business, phone: str) -> int:
    """Fail every outbound text to `phone` that no worker has claimed yet (queued or waiting for a retry).
    Confirmations of the opt-out itself are left alone. Returns how many were stopped."""
    from messaging.errors import plain_error
    from messaging.models import Message

    now = timezone.now()
    ids = list(
        Message.objects.select_for_update()
        .filter(business=business, to_number=phone, direction=Message.Direction.OUTBOUND, status=Message.Status.QUEUED)
        .exclude(kind__in=(Message.Kind.OPT_OUT_CONFIRM, Message.Kind.NOTIFICATION))
        .values_list("pk", flat=True)
    )
    return Message.objects.filter(pk__in=ids).update(
        status=Message.Status.FAILED,
        error_code="opted_out",
        error_message=plain_error("opted_out"),
        failed_at=now,
        next_attempt_at=None,
        status_rank=4,
    )


def consent_state(*, business, phone: str) -> str:
    """ "opted_out" or "ok": the latest state-changing ledger event for the number (by hash, so it survives erasure)."""
    return consent_state_by_id(business_id=business.pk, phone=phone)


def consent_state_by_id(*, business_id: int, phone: str) -> str:
    """consent_state for code that holds only the business's id (the sending worker's claim)."""
    latest = (
        ConsentEvent.objects.filter(
            business_id=business_id, phone_hash=number_hash(business_id, phone), kind__in=ConsentEvent.STATE_KINDS
        )
        .order_by("-created_at", "-id")
        .values_list("kind", flat=True)
        .first()
    )
    return "opted_out" if latest in ConsentEvent.OPTED_OUT_KINDS else "ok"


def consent_carrier_block(*, business, number: str, message) -> None:
    """The carrier refused a send with 21610 (the recipient opted out at the carrier): stop texting them."""
    if consent_state(business=business, phone=number) != "opted_out":
        consent_record(
            business=business,
            phone=number,
            kind=ConsentEvent.Kind.CARRIER_BLOCK,
            source_ref=message.provider_message_id or f"message:{message.pk}",
            message=message,
            note="The carrier refused a text with error 21610 (recipient opted out).",
        )

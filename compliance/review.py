"""Operator review of natural-language opt-outs: confirm them, or restore a number that was never really opting
out. Writes only; reads live in compliance.selectors."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from compliance.models import ConsentEvent
from compliance.services import audit, consent_record

CONFIRM = "confirm"
RESTORE = "restore"
OUTCOMES = (CONFIRM, RESTORE)


@transaction.atomic
def consent_review(*, event: ConsentEvent, outcome: str, reason: str, actor) -> ConsentEvent:
    """Settle one pending natural-language opt-out, in one transaction, under the event's row lock.

    - confirm: the number stays opted out; the event is marked confirmed.
    - restore: the event is marked restored and an OPERATOR_RESTORE event is added to the ledger, which flips the
      contact's cached flag back, so the number can be texted again. A reason is required.

    Every review writes an audit entry. Not idempotent on purpose: an event that is no longer pending (someone
    else reviewed it first) raises ValidationError, as do a restore without a reason, a restore of an erased
    number, and a restore that would undo a later opt-out by the caller."""
    reason = (reason or "").strip()
    if outcome not in OUTCOMES:
        raise ValidationError("Choose whether to confirm the opt-out or restore the number.")
    locked = ConsentEvent.objects.select_for_update().get(pk=event.pk, business=event.business_id)
    if locked.review != ConsentEvent.Review.PENDING:
        who = f" by {locked.reviewed_by.email}" if locked.reviewed_by else ""
        raise ValidationError(f"This opt-out was already reviewed{who} ({locked.get_review_display().lower()}).")
    if outcome == RESTORE:
        if not reason:
            raise ValidationError({"reason": ["Say why this was not an opt-out; it is kept as evidence."]})
        if not locked.phone:
            raise ValidationError("This caller's number was erased, so it cannot be restored.")
        later_opt_out = ConsentEvent.objects.filter(
            business=locked.business_id,
            phone_hash=locked.phone_hash,
            kind__in=ConsentEvent.OPTED_OUT_KINDS,
            created_at__gt=locked.created_at,
        ).exists()
        if later_opt_out:
            raise ValidationError(
                "The caller opted out again after this message, so restoring it would ignore their later "
                "request. Confirm it instead."
            )

    locked.review = ConsentEvent.Review.CONFIRMED if outcome == CONFIRM else ConsentEvent.Review.RESTORED
    locked.reviewed_by = actor
    locked.reviewed_at = timezone.now()
    locked.review_reason = reason[:300]
    locked.save(update_fields=["review", "reviewed_by", "reviewed_at", "review_reason"])

    restore_event = None
    if outcome == RESTORE:
        restore_event = consent_record(
            business=locked.business,
            phone=locked.phone,
            kind=ConsentEvent.Kind.OPERATOR_RESTORE,
            source_ref=f"consent:{locked.pk}",
            actor=actor,
            note=f"Not an opt-out: {reason}",
        )
    audit(
        business=locked.business,
        actor=actor,
        action="consent.review_confirm" if outcome == CONFIRM else "consent.review_restore",
        target=locked,
        reason=reason,
        matched=locked.matched,
        restore_event_id=restore_event.pk if restore_event else None,
    )
    return locked

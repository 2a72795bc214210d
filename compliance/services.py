"""Writes to consent state. The contact's `opted_out` flag is the cache every send checks."""

from django.db import transaction

from inbox.services import contact_get_locked


@transaction.atomic
def consent_carrier_block(*, business, number: str, message) -> None:
    """The carrier refused a send with 21610 (the recipient opted out at the carrier): stop texting them."""
    contact = contact_get_locked(business=business, phone=number)
    if not contact.opted_out:
        contact.opted_out = True
        contact.save(update_fields=["opted_out"])

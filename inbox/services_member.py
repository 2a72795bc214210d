"""Writes behind "My settings": a member's own phone and their inbox preferences in one business."""

from django.core.exceptions import ValidationError
from django.db import transaction

from compliance.services import audit
from inbox.models import MemberSettings
from secdesk.phone import InvalidPhoneNumber, to_e164
from tenants.models import Membership, User

EDITABLE = (
    "notify_new_conversation",
    "notify_new_message",
    "notify_urgent",
    "notify_mention",
    "by_email",
    "by_sms",
    "away",
)
NEEDS_PHONE = "Add your mobile number to get alerts by text, or untick “by text”."


@transaction.atomic
def member_settings_update(*, membership: Membership, phone: str, **choices: bool) -> MemberSettings:
    """Save the member's phone (on their account: it is theirs in every business) and their preferences in this
    business; choices not given keep their value. `phone` may be blank or anything to_e164 reads; it is stored as
    E.164. Raises ValidationError keyed by field, writing nothing, for a number that is not one, or for alerts by
    text without a number. Writes the audit entry "member.settings" naming what changed (never the number
    itself); a save that changes nothing writes no entry. Unknown keyword -> TypeError."""
    unexpected = set(choices) - set(EDITABLE)
    if unexpected:
        raise TypeError(f"member_settings_update() got unexpected fields: {', '.join(sorted(unexpected))}")
    try:
        phone = to_e164(phone) if (phone or "").strip() else ""
    except InvalidPhoneNumber as error:
        raise ValidationError({"phone": [str(error)]}) from None
    user = User.objects.select_for_update().get(pk=membership.user_id)
    row, created = MemberSettings.objects.select_for_update().get_or_create(
        membership=membership, defaults={"business_id": membership.business_id}
    )
    values = {name: bool(choices.get(name, getattr(row, name))) for name in EDITABLE}
    if values["by_sms"] and not phone:
        raise ValidationError({"phone": [NEEDS_PHONE]})
    changed = [name for name in EDITABLE if getattr(row, name) != values[name]]
    if user.phone != phone:
        user.phone = phone
        user.save(update_fields=["phone"])
        changed.append("phone")
    if not changed:
        return row
    for name, value in values.items():
        setattr(row, name, value)
    row.save()
    audit(
        business=membership.business,
        actor=user,
        action="member.settings",
        target=row,
        created=created,
        fields=changed,
        **values,
    )
    return row

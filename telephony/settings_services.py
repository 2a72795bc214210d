"""Writes behind the telephony settings pages (and `provision_business`): numbers, carrier credentials, blocklist.

Every function here is keyword-only, runs in one transaction and validates what it is given, so a caller that
skipped the form (a management command, the API later) cannot store a malformed number, a ring-mode number with
nothing to ring, or a number or carrier account that belongs to another business. Rule violations raise
`ValidationError` keyed by the form's field names; messages never name another business.
"""

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from secdesk.phone import InvalidPhoneNumber, to_e164
from telephony.models import BlockedNumber, CarrierCredential, PhoneNumber
from tenants.models import Business

ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
AUTH_TOKEN = re.compile(r"^[0-9a-fA-F]{32}$")
RING_TIMEOUT_MIN, RING_TIMEOUT_MAX = 5, 60

NUMBER_TAKEN_ELSEWHERE = "This number is already connected to a SecondDesk account."
NUMBER_TAKEN_HERE = "This number is already on your account."
ACCOUNT_TAKEN = "This Twilio account is already connected to another SecondDesk account."
NUMBER_FIELDS = (
    "e164",
    "provider",
    "label",
    "mode",
    "forward_to",
    "ring_timeout",
    "screening",
    "voicemail_enabled",
    "voicemail_greeting",
    "a2p_registered",
    "carrier_handles_keywords",
)


# --- numbers ---------------------------------------------------------------------------------------------------


def _normalised(value: str, field: str, errors: dict[str, list[str]]) -> str:
    try:
        return to_e164(value)
    except InvalidPhoneNumber as exc:
        errors.setdefault(field, []).append(str(exc))
        return ""


def _number_taken_message(*, e164: str, business: Business, exclude_pk: int | None) -> str | None:
    owner = PhoneNumber.objects.filter(e164=e164).exclude(pk=exclude_pk).values_list("business_id", flat=True).first()
    if owner is None:
        return None
    return NUMBER_TAKEN_HERE if owner == business.pk else NUMBER_TAKEN_ELSEWHERE


def _clean_number_fields(*, business: Business, fields: dict, exclude_pk: int | None) -> dict:
    """Validate and normalise a complete set of number fields; raise one ValidationError with every problem."""
    errors: dict[str, list[str]] = {}
    cleaned = dict(fields)
    cleaned["e164"] = _normalised(fields["e164"], "e164", errors)
    if fields["provider"] not in settings.TELEPHONY_PROVIDERS:
        errors.setdefault("provider", []).append("Choose a carrier from the list.")
    if fields["mode"] not in PhoneNumber.Mode.values:
        errors.setdefault("mode", []).append("Choose how calls reach this number.")
    timeout = fields["ring_timeout"]
    if not isinstance(timeout, int) or not RING_TIMEOUT_MIN <= timeout <= RING_TIMEOUT_MAX:
        errors.setdefault("ring_timeout", []).append(
            f"Ring for between {RING_TIMEOUT_MIN} and {RING_TIMEOUT_MAX} seconds."
        )
    forward_to = (fields["forward_to"] or "").strip()
    cleaned["forward_to"] = _normalised(forward_to, "forward_to", errors) if forward_to else ""
    if fields["mode"] == PhoneNumber.Mode.RING and not forward_to:
        errors.setdefault("forward_to", []).append(
            "In ring mode we ring this phone first: enter the mobile or desk phone that should ring."
        )
    if cleaned["forward_to"] and cleaned["forward_to"] == cleaned["e164"]:
        errors.setdefault("forward_to", []).append(
            "This is the business number itself: enter the phone we should ring, e.g. your mobile."
        )
    if cleaned["e164"] and "e164" not in errors:
        taken = _number_taken_message(e164=cleaned["e164"], business=business, exclude_pk=exclude_pk)
        if taken:
            errors.setdefault("e164", []).append(taken)
    cleaned["label"] = (fields["label"] or "").strip()
    cleaned["voicemail_greeting"] = (fields["voicemail_greeting"] or "").strip()
    if errors:
        raise ValidationError(errors)
    return cleaned


def _save_number(number: PhoneNumber, cleaned: dict) -> PhoneNumber:
    for name in NUMBER_FIELDS:
        setattr(number, name, cleaned[name])
    try:
        with transaction.atomic():  # savepoint: a lost race must not poison the caller's transaction
            number.save()
    except IntegrityError as exc:  # another business connected the same number between the check and the insert
        raise ValidationError({"e164": [NUMBER_TAKEN_ELSEWHERE]}) from exc
    return number


@transaction.atomic
def number_create(
    *,
    business: Business,
    e164: str,
    provider: str = "twilio",
    mode: str = PhoneNumber.Mode.RING,
    forward_to: str = "",
    label: str = "",
    ring_timeout: int = 18,
    screening: bool = True,
    voicemail_enabled: bool = True,
    voicemail_greeting: str = "",
    a2p_registered: bool = False,
    carrier_handles_keywords: bool = False,
) -> PhoneNumber:
    """Connect a number to `business`. The number is unique across the platform (the database constraint backs
    the check, so a race ends in ValidationError, never a 500). Ring mode needs a `forward_to` that differs
    from the number itself. All or nothing."""
    fields = {
        "e164": e164,
        "provider": provider,
        "label": label,
        "mode": mode,
        "forward_to": forward_to,
        "ring_timeout": ring_timeout,
        "screening": screening,
        "voicemail_enabled": voicemail_enabled,
        "voicemail_greeting": voicemail_greeting,
        "a2p_registered": bool(a2p_registered),
        "carrier_handles_keywords": bool(carrier_handles_keywords),
    }
    cleaned = _clean_number_fields(business=business, fields=fields, exclude_pk=None)
    return _save_number(PhoneNumber(business=business), cleaned)


@transaction.atomic
def number_update(*, number: PhoneNumber, **changes) -> PhoneNumber:
    """Change some of a number's settings; the rules of `number_create` apply to the result. Idempotent."""
    unknown = set(changes) - set(NUMBER_FIELDS)
    if unknown:
        raise TypeError(f"Unknown number fields: {sorted(unknown)}")
    locked = PhoneNumber.objects.select_for_update().get(pk=number.pk)
    fields = {name: changes.get(name, getattr(locked, name)) for name in NUMBER_FIELDS}
    cleaned = _clean_number_fields(business=locked.business, fields=fields, exclude_pk=locked.pk)
    return _save_number(locked, cleaned)


@transaction.atomic
def number_delete(*, number: PhoneNumber) -> None:
    """Disconnect a number. A number with calls in its history is kept (the calls page and the inbox point at
    it): the owner gets a ValidationError saying so."""
    try:
        with transaction.atomic():
            PhoneNumber.objects.filter(pk=number.pk).delete()
    except ProtectedError as exc:
        raise ValidationError(
            "This number has calls in its history, so it cannot be deleted. Point it elsewhere in your "
            "carrier's console instead, or ask support to archive it."
        ) from exc


# --- carrier credentials ---------------------------------------------------------------------------------------


@transaction.atomic
def credential_set(
    *, business: Business, account_sid: str, auth_token: str | None, provider: str = "twilio"
) -> CarrierCredential:
    """Store (or replace) the business's own carrier account. The auth token is encrypted at rest; `auth_token`
    may be None to keep the stored one, but only while the account SID stays the same (a token belongs to
    one account). An account already connected to another business is refused without naming it."""
    account_sid = (account_sid or "").strip()
    auth_token = (auth_token or "").strip() or None
    errors: dict[str, list[str]] = {}
    if not ACCOUNT_SID.match(account_sid):
        errors["account_sid"] = ["A Twilio account SID is AC followed by 32 letters and digits (0-9, a-f)."]
    if auth_token is not None and not AUTH_TOKEN.match(auth_token):
        errors["auth_token"] = ["A Twilio auth token is 32 letters and digits (0-9, a-f)."]
    existing = CarrierCredential.objects.select_for_update().filter(business=business, provider=provider).first()
    if auth_token is None and (existing is None or existing.account_sid != account_sid) and "account_sid" not in errors:
        errors["auth_token"] = ["Enter the auth token for this account."]
    if (
        "account_sid" not in errors
        and CarrierCredential.objects.filter(provider=provider, account_sid=account_sid)
        .exclude(business=business)
        .exists()
    ):
        errors["account_sid"] = [ACCOUNT_TAKEN]
    if errors:
        raise ValidationError(errors)

    credential = existing or CarrierCredential(business=business, provider=provider)
    credential.account_sid = account_sid
    if auth_token is not None:
        credential.auth_token = auth_token
    try:
        with transaction.atomic():
            credential.save()
    except IntegrityError as exc:
        raise ValidationError({"account_sid": [ACCOUNT_TAKEN]}) from exc
    return credential


@transaction.atomic
def credential_delete(*, business: Business, provider: str = "twilio") -> bool:
    """Forget the business's own account (it falls back to the platform account). True if one was stored."""
    deleted, _ = CarrierCredential.objects.filter(business=business, provider=provider).delete()
    return bool(deleted)


# --- blocklist -------------------------------------------------------------------------------------------------


@transaction.atomic
def blocked_number_add(*, business: Business, number: str, reason: str = "") -> tuple[BlockedNumber, bool]:
    """Block a caller number (normalised to E.164). Idempotent: blocking it again returns the existing row and
    False."""
    try:
        e164 = to_e164(number)
    except InvalidPhoneNumber as exc:
        raise ValidationError({"number": [str(exc)]}) from exc
    blocked, created = BlockedNumber.objects.get_or_create(
        business=business, e164=e164, defaults={"reason": (reason or "").strip()[:120]}
    )
    return blocked, created


@transaction.atomic
def blocked_number_remove(*, blocked: BlockedNumber) -> None:
    BlockedNumber.objects.filter(pk=blocked.pk).delete()

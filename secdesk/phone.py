"""Phone numbers are E.164 strings, normalised with `phonenumbers` at every boundary and never compared raw."""

import phonenumbers

DEFAULT_REGION = "US"


class InvalidPhoneNumber(ValueError):
    pass


def to_e164(raw: str | None, *, region: str = DEFAULT_REGION) -> str:
    """Normalise `raw` to E.164 or raise InvalidPhoneNumber (clear message, safe to show a person)."""
    text = (raw or "").strip()
    if not text or len(text) > 40:
        raise InvalidPhoneNumber("Enter a phone number, e.g. +1 415 555 0100.")
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumber(f"“{text[:40]}” is not a phone number.") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(f"“{text[:40]}” is not a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def to_e164_or_blank(raw: str | None) -> str:
    """E.164, or "" for anonymous, withheld and invalid caller ids (they are recorded, never texted)."""
    try:
        return to_e164(raw)
    except InvalidPhoneNumber:
        return ""


def pretty(e164: str) -> str:
    """A number as a person reads it: national format at home, international otherwise."""
    if not e164:
        return "Unknown caller"
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    fmt = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if phonenumbers.region_code_for_number(parsed) == DEFAULT_REGION
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(parsed, fmt)

"""Writes behind the owner's intake settings page: which fields callers see, the service-type list, the consent
disclosure and the confirmation wording.

The rules live here rather than in the form, so anything that skips the form (a management command, the API
later) still cannot store a page that asks nothing or a consent checkbox without opt-out instructions.
"""

import re
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction

from compliance.services import audit
from intake.models import (
    DEFAULT_CONFIRMATION,
    DEFAULT_DISCLOSURE,
    DEFAULT_REQUIRED,
    DEFAULT_SHOWN,
    INTAKE_FIELDS,
    IntakeSettings,
)

MAX_SERVICE_TYPES = 30
MAX_SERVICE_TYPE_CHARS = 60
MAX_DISCLOSURE_CHARS = 600
MAX_CONFIRMATION_CHARS = 300
MIN_LINK_LIFETIME_DAYS = 1
MAX_LINK_LIFETIME_DAYS = 90

# What the owner calls each field on the settings page.
FIELD_LABELS = {
    "name": "Name",
    "service_type": "Service type",
    "description": "Description of the job",
    "address": "Service address",
    "zip_code": "ZIP code",
    "urgency": "Urgency",
    "callback_window": "Preferred callback window",
    "customer_type": "New or existing customer",
    "photos": "Photos (up to 3)",
}

EDITABLE = (
    "fields_shown",
    "fields_required",
    "service_types",
    "consent_enabled",
    "disclosure_text",
    "confirmation_text",
    "link_lifetime_days",
)

# Carriers expect consent language to say how to opt out; the keyword itself, in capitals, as texts show it.
_STOP_WORD = re.compile(r"\bSTOP\b")


def intake_settings_or_defaults(*, business) -> IntakeSettings:
    """The business's intake settings, or an unsaved row with the defaults if it never saved any. Writes nothing.

    A stored row with no fields shown was created with the model's bare defaults, never through this page (which
    refuses an empty list), so it reads as the defaults too."""
    row = IntakeSettings.objects.filter(business=business).first()
    if row is None:
        row = IntakeSettings(business=business)
    if not row.fields_shown:
        row.fields_shown = list(DEFAULT_SHOWN)
        row.fields_required = list(DEFAULT_REQUIRED)
    return row


def fill_business(text: str, *, business) -> str:
    """Put the business's name where `{business}` stands. Plain replacement: other braces are left as typed."""
    return text.replace("{business}", business.sender_name)


def effective_disclosure(*, disclosure_text: str, business) -> str:
    return fill_business(disclosure_text.strip() or DEFAULT_DISCLOSURE, business=business)


def effective_confirmation(*, confirmation_text: str, business) -> str:
    return fill_business(confirmation_text.strip() or DEFAULT_CONFIRMATION, business=business)


def normalise_service_types(values: Iterable[str]) -> list[str]:
    """Trimmed, blank entries dropped, duplicates dropped case-insensitively (the first spelling wins)."""
    seen: set[str] = set()
    result = []
    for value in values:
        item = " ".join(str(value).split())
        if item and item.casefold() not in seen:
            seen.add(item.casefold())
            result.append(item)
    return result


def _labels(keys: Iterable[str]) -> str:
    return ", ".join(FIELD_LABELS.get(k, k) for k in keys)


def validate_intake_settings(values: dict) -> dict:
    """Check a complete set of settings and return it normalised (fields in page order, service types trimmed
    and de-duplicated, texts stripped). Raises ValidationError keyed by field, one message per problem."""
    errors: dict[str, list[str]] = {}
    shown_in = list(values["fields_shown"])
    required_in = list(values["fields_required"])

    unknown = sorted({k for k in shown_in + required_in if k not in INTAKE_FIELDS})
    if unknown:
        errors.setdefault("fields_shown", []).append(f"Unknown field: {', '.join(unknown)}.")
    shown = [k for k in INTAKE_FIELDS if k in shown_in]
    required = [k for k in INTAKE_FIELDS if k in required_in]
    if not shown:
        errors.setdefault("fields_shown", []).append(
            "Show at least one field (the job description is a good start): otherwise the page asks nothing."
        )
    hidden_required = [k for k in required if k not in shown]
    if hidden_required:
        errors.setdefault("fields_required", []).append(
            f"A required field must also be shown: {_labels(hidden_required)}."
        )

    service_types = normalise_service_types(values["service_types"])
    too_long = [s for s in service_types if len(s) > MAX_SERVICE_TYPE_CHARS]
    if too_long:
        errors.setdefault("service_types", []).append(
            f"Keep each service type to {MAX_SERVICE_TYPE_CHARS} characters: “{too_long[0][:20]}…” is longer."
        )
    if len(service_types) > MAX_SERVICE_TYPES:
        errors.setdefault("service_types", []).append(
            f"At most {MAX_SERVICE_TYPES} service types ({len(service_types)} given)."
        )

    consent_enabled = bool(values["consent_enabled"])
    disclosure = (values["disclosure_text"] or "").strip()
    if len(disclosure) > MAX_DISCLOSURE_CHARS:
        errors.setdefault("disclosure_text", []).append(
            f"Keep the disclosure to {MAX_DISCLOSURE_CHARS} characters ({len(disclosure)} now)."
        )
    if consent_enabled and disclosure and not _STOP_WORD.search(disclosure):
        errors.setdefault("disclosure_text", []).append(
            "Say how to opt out with the word STOP in capitals, e.g. “Reply STOP to opt out.” Carriers expect it."
        )

    confirmation = (values["confirmation_text"] or "").strip()
    if len(confirmation) > MAX_CONFIRMATION_CHARS:
        errors.setdefault("confirmation_text", []).append(
            f"Keep the confirmation to {MAX_CONFIRMATION_CHARS} characters ({len(confirmation)} now)."
        )

    lifetime = values["link_lifetime_days"]
    if not isinstance(lifetime, int) or not MIN_LINK_LIFETIME_DAYS <= lifetime <= MAX_LINK_LIFETIME_DAYS:
        errors.setdefault("link_lifetime_days", []).append(
            f"Choose between {MIN_LINK_LIFETIME_DAYS} and {MAX_LINK_LIFETIME_DAYS} days."
        )

    if errors:
        raise ValidationError(errors)
    return {
        "fields_shown": shown,
        "fields_required": required,
        "service_types": service_types,
        "consent_enabled": consent_enabled,
        "disclosure_text": disclosure,
        "confirmation_text": confirmation,
        "link_lifetime_days": lifetime,
    }


@transaction.atomic
def intake_settings_update(*, business, actor, **fields) -> IntakeSettings:
    """Change some or all of a business's intake settings (fields not given keep their value) and audit it.

    Runs in one transaction and locks the row, so two owners saving at once apply one after the other. The
    rules are checked on the whole resulting set (a field made required must be shown, even if `fields_shown`
    was not passed); on any problem raises ValidationError keyed by field and writes nothing. Writes an audit
    entry naming the changed fields; saving without a change writes nothing. Unknown keyword → TypeError."""
    unexpected = set(fields) - set(EDITABLE)
    if unexpected:
        raise TypeError(f"intake_settings_update() got unexpected fields: {', '.join(sorted(unexpected))}")

    current = intake_settings_or_defaults(business=business)
    row, created = IntakeSettings.objects.select_for_update().get_or_create(
        business=business, defaults={name: getattr(current, name) for name in EDITABLE}
    )
    if not row.fields_shown:  # created elsewhere with bare model defaults
        row.fields_shown, row.fields_required = current.fields_shown, current.fields_required

    clean = validate_intake_settings({name: fields.get(name, getattr(row, name)) for name in EDITABLE})
    changed = sorted(name for name in EDITABLE if getattr(row, name) != clean[name])
    if not changed and not created:
        return row
    for name, value in clean.items():
        setattr(row, name, value)
    row.save()
    audit(
        business=business,
        actor=actor,
        action="intake.settings_update",
        target=row,
        created=created,
        fields=changed,
        fields_shown=row.fields_shown,
        fields_required=row.fields_required,
        consent_enabled=row.consent_enabled,
    )
    return row

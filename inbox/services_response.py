"""Writes behind the owner's "Urgency & response" page: what counts as urgent, the answer-time targets, the
follow-up nudge and the out-of-area reply (ResponseSettings). The on-call and paging fields of the same row belong
to the on-call page and are never written here.

The rules live here, not in the form: a caller that skipped the form still cannot store a 2-letter urgent phrase,
a follow-up after 3 weeks or a template with an unknown variable.
"""

import re

from django.core.exceptions import ValidationError
from django.db import transaction

from compliance.services import audit
from inbox.canned import normalise_body, validate_body
from inbox.models import ResponseSettings
from inbox.sla import FOLLOW_UP_MAX_MINUTES, FOLLOW_UP_MIN_MINUTES
from inbox.urgency import TRADES, normalise
from messaging.templating import TemplateError, validate_template
from tenants.models import Business, User

PHRASE_MIN_CHARS = 3  # "no" or "ac" alone would make half of all texts urgent
PHRASE_MAX_CHARS = ResponseSettings._meta.get_field("extra_phrases").base_field.max_length
MAX_PHRASES = 100
MAX_TEXT_CHARS = 600  # a follow-up or out-of-area reply: at most 4 segments
MAX_TARGET_MINUTES = 24 * 60
# The fields this page owns, in the order the audit entry lists them.
FIELDS = (
    "trades",
    "extra_phrases",
    "ignore_phrases",
    "repeat_calls",
    "repeat_window_minutes",
    "sla_enabled",
    "sla_open_minutes",
    "sla_closed_minutes",
    "follow_up_enabled",
    "follow_up_delay_minutes",
    "follow_up_template",
    "out_of_area_reply",
)
TEXT_FIELDS = ("follow_up_template", "out_of_area_reply")  # audited as "changed", not word for word
_HAS_WORD = re.compile(r"\w")


def response_settings_or_default(*, business: Business) -> ResponseSettings:
    """The business's saved settings, or an unsaved row with the defaults. Writes nothing (a GET of the page must
    not create rows)."""
    return ResponseSettings.objects.filter(business=business).first() or ResponseSettings(business=business)


def parse_phrases(text: str) -> list[str]:
    """Phrases typed one per line -> tidied (inner spaces collapsed), without repeats in any case, in the order
    typed. Raises ValidationError naming every phrase that is too short, too long or has no words."""
    phrases: dict[str, str] = {}
    for line in (text or "").splitlines():
        phrase = " ".join(line.split())
        if phrase:
            phrases.setdefault(normalise(phrase), phrase)
    problems = []
    for phrase in phrases.values():
        if not _HAS_WORD.search(normalise(phrase)):
            problems.append(f"“{phrase[:20]}” has no words in it")
        elif len(phrase) < PHRASE_MIN_CHARS:
            problems.append(f"“{phrase}” is too short (at least {PHRASE_MIN_CHARS} characters)")
        elif len(phrase) > PHRASE_MAX_CHARS:
            problems.append(f"“{phrase[:20]}…” is too long (at most {PHRASE_MAX_CHARS} characters)")
    if problems:
        raise ValidationError("; ".join(problems[:5]) + (" …" if len(problems) > 5 else "") + ".", code="invalid")
    if len(phrases) > MAX_PHRASES:
        raise ValidationError(f"At most {MAX_PHRASES} phrases ({len(phrases)} given).", code="too_many")
    return list(phrases.values())


def clean_follow_up_template(text: str) -> str:
    """The follow-up template as stored (line endings LF, trimmed); blank means our default. Raises
    ValidationError in the text-back templates' words for unknown variables or unbalanced braces."""
    text = normalise_body(text)
    if not text:
        return ""
    if len(text) > MAX_TEXT_CHARS:
        raise ValidationError(f"Keep it to {MAX_TEXT_CHARS} characters (it has {len(text)}).", code="too_long")
    try:
        validate_template(text)
    except TemplateError as exc:
        raise ValidationError(str(exc), code="template") from None
    return text


def clean_out_of_area_reply(text: str) -> str:
    """The out-of-area reply as stored; blank means none is sent. Canned replies' rules: {first_name} and
    {business} only."""
    text = normalise_body(text)
    if not text:
        return ""
    if len(text) > MAX_TEXT_CHARS:
        raise ValidationError(f"Keep it to {MAX_TEXT_CHARS} characters (it has {len(text)}).", code="too_long")
    validate_body(text)
    return text


def _check(values: dict) -> dict:
    """Every rule on every field; returns the values tidied or raises one ValidationError with an entry per field."""
    errors: dict[str, list[str]] = {}
    cleaned = dict(values)

    def bounded(field: str, low: int, high: int, message: str) -> None:
        value = values.get(field)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            errors[field] = [message]

    unknown = sorted(set(values.get("trades") or ()) - set(TRADES))
    if unknown:
        errors["trades"] = ["Choose trades from the list."]
    cleaned["trades"] = [trade for trade in TRADES if trade in (values.get("trades") or ())]
    for field, parse in (
        ("extra_phrases", parse_phrases),
        ("ignore_phrases", parse_phrases),
        ("follow_up_template", clean_follow_up_template),
        ("out_of_area_reply", clean_out_of_area_reply),
    ):
        raw = values.get(field) or ""
        try:
            cleaned[field] = parse("\n".join(raw) if isinstance(raw, list | tuple) else raw)
        except ValidationError as exc:
            errors[field] = exc.messages
    repeat = values.get("repeat_calls")
    if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat == 1 or not 0 <= repeat <= 20:
        errors["repeat_calls"] = ["Use 2 to 20 calls, or 0 to turn this off."]
    bounded("repeat_window_minutes", 1, MAX_TARGET_MINUTES, "Use 1 to 1440 minutes (a day).")
    bounded("sla_open_minutes", 1, MAX_TARGET_MINUTES, "Use 1 to 1440 minutes (a day).")
    bounded("sla_closed_minutes", 0, MAX_TARGET_MINUTES, "Use 0 to 1440 minutes after opening.")
    bounded(
        "follow_up_delay_minutes",
        FOLLOW_UP_MIN_MINUTES,
        FOLLOW_UP_MAX_MINUTES,
        "Pick a delay between 15 minutes and 7 days.",
    )
    for flag in ("sla_enabled", "follow_up_enabled"):
        cleaned[flag] = bool(values.get(flag))
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def response_settings_update(*, business: Business, actor: User | None, **values) -> ResponseSettings:
    """Save the page's fields (all of FIELDS are required as keyword arguments). The row is created if missing and
    locked, and only these columns are written, so a save on the on-call page at the same moment is not undone.
    New targets and delays apply to timers started from now on. Audit "response_settings.update" listing what
    changed (texts as changed, not word for word). Raises ValidationError, writing nothing."""
    missing = sorted(set(FIELDS) - set(values))
    if missing:
        raise TypeError(f"missing settings: {', '.join(missing)}")
    cleaned = _check({field: values[field] for field in FIELDS})
    ResponseSettings.objects.get_or_create(business=business)
    row = ResponseSettings.objects.select_for_update().get(business=business)
    changed = [field for field in FIELDS if getattr(row, field) != cleaned[field]]
    if not changed:
        return row
    for field in changed:
        setattr(row, field, cleaned[field])
    row.save(update_fields=[*changed, "updated_at"])
    audit(
        business=business,
        action="response_settings.update",
        actor=actor,
        target=row,
        changed=changed,
        **{field: cleaned[field] for field in changed if field not in TEXT_FIELDS},
    )
    # a business reading its settings through the cached one-to-one accessor sees the new ones
    business.response_settings = row
    return row

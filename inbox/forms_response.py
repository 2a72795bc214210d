"""The owner's "Urgency & response" form. It parses what a person typed (phrases one per line, a delay in minutes,
hours or days); inbox.services_response checks the rules again and writes."""

from django import forms
from django.core.exceptions import ValidationError

from inbox.models import ResponseSettings
from inbox.services_response import (
    FOLLOW_UP_MAX_MINUTES,
    FOLLOW_UP_MIN_MINUTES,
    MAX_PHRASES,
    MAX_TARGET_MINUTES,
    MAX_TEXT_CHARS,
    PHRASE_MAX_CHARS,
    clean_follow_up_template,
    clean_out_of_area_reply,
    parse_phrases,
)
from inbox.urgency import TRADE_PHRASES

TRADE_LABELS = {
    "plumbing": "Plumbing",
    "hvac": "Heating and air conditioning",
    "electrical": "Electrical",
    "roofing": "Roofing",
    "dental": "Dental",
    "legal": "Legal",
}
UNITS = {"minutes": 1, "hours": 60, "days": 24 * 60}


def _number(label: str, low: int, high: int, *, help_text: str = "") -> forms.IntegerField:
    message = f"Enter a whole number from {low} to {high}."
    return forms.IntegerField(
        label=label,
        min_value=low,
        max_value=high,
        help_text=help_text,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "style": "max-width:8rem"}),
        error_messages={"required": message, "invalid": message, "min_value": message, "max_value": message},
    )


def _phrase_box(label: str, help_text: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=MAX_PHRASES * (PHRASE_MAX_CHARS + 2),
        widget=forms.Textarea(attrs={"rows": 4, "autocapitalize": "none"}),
        help_text=help_text,
    )


class ResponseSettingsForm(forms.Form):
    trades = forms.MultipleChoiceField(
        label="Your trades",
        required=False,
        choices=[(trade, TRADE_LABELS.get(trade, trade.title())) for trade in TRADE_PHRASES],
        widget=forms.CheckboxSelectMultiple,
        help_text="Each trade adds its usual emergency words (listed below). “Emergency”, “urgent” and “ASAP” "
        "always count.",
        error_messages={"invalid_choice": "Choose trades from the list."},
    )
    extra_phrases = _phrase_box(
        "Also urgent",
        f"One word or phrase per line, e.g. “water heater out”. Whole words only; “not urgent” and the like do "
        f"not count. At most {MAX_PHRASES}, each {PHRASE_MAX_CHARS} characters or fewer.",
    )
    ignore_phrases = _phrase_box(
        "Never urgent",
        "Phrases that must not make a text urgent even though they contain an urgent word, e.g. “leak detection”. "
        "One per line.",
    )
    repeat_calls = _number("Repeat calls", 0, 20, help_text="This many calls from one caller… (0 turns this off)")
    repeat_window_minutes = _number("within (minutes)", 1, MAX_TARGET_MINUTES, help_text="…make it urgent.")

    sla_enabled = forms.BooleanField(label="Remind us when a caller waits too long", required=False)
    sla_open_minutes = _number(
        "While open: answer within (minutes)",
        1,
        MAX_TARGET_MINUTES,
        help_text="Then the person assigned is reminded (everyone, when nobody is); after as long again, the owners.",
    )
    sla_closed_minutes = _number(
        "After hours: minutes after opening",
        0,
        MAX_TARGET_MINUTES,
        help_text="A caller who writes at 11 pm is due this long after you next open.",
    )

    follow_up_enabled = forms.BooleanField(label="Send one follow-up to callers who go quiet", required=False)
    follow_up_delay = forms.IntegerField(
        label="Follow up after",
        min_value=1,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "style": "max-width:6rem"}),
        error_messages={
            "required": "Enter how long to wait, e.g. 2 hours.",
            "invalid": "Enter a whole number, e.g. 2.",
            "min_value": "Pick a delay between 15 minutes and 7 days.",
        },
    )
    follow_up_unit = forms.ChoiceField(
        label="Unit",
        choices=[(unit, unit) for unit in UNITS],
        error_messages={"invalid_choice": "Choose minutes, hours or days."},
    )
    follow_up_template = forms.CharField(
        label="Follow-up text",
        required=False,
        strip=False,  # normalised in clean_follow_up_template, as it is sent
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": MAX_TEXT_CHARS, "id": "follow-up-template"}),
        help_text="Leave blank for ours (shown below). Only if the caller has not replied or opened their form "
        "link, never during their quiet hours, at most once. “Reply STOP to opt out.” is added.",
    )
    out_of_area_reply = forms.CharField(
        label="Reply to callers outside your territories",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": MAX_TEXT_CHARS, "id": "out-of-area-reply"}),
        help_text="Sent once, when a caller's intake form gives a ZIP code no territory covers (with assignment by "
        "territory). Blank: none is sent. You can use {first_name} and {business}.",
    )

    @classmethod
    def initial_for(cls, settings: ResponseSettings) -> dict:
        delay = settings.follow_up_delay_minutes
        unit = next(u for u in ("days", "hours", "minutes") if delay % UNITS[u] == 0)
        return {
            **{field: getattr(settings, field) for field in cls.base_fields if hasattr(settings, field)},
            "extra_phrases": "\n".join(settings.extra_phrases),
            "ignore_phrases": "\n".join(settings.ignore_phrases),
            "follow_up_delay": delay // UNITS[unit],
            "follow_up_unit": unit,
        }

    def clean_extra_phrases(self) -> list[str]:
        return parse_phrases(self.cleaned_data["extra_phrases"])

    def clean_ignore_phrases(self) -> list[str]:
        return parse_phrases(self.cleaned_data["ignore_phrases"])

    def clean_repeat_calls(self) -> int:
        value = self.cleaned_data["repeat_calls"]
        if value == 1:
            raise ValidationError("One call is not a repeat: use 2 or more, or 0 to turn this off.")
        return value

    def clean_follow_up_template(self) -> str:
        return clean_follow_up_template(self.cleaned_data["follow_up_template"])

    def clean_out_of_area_reply(self) -> str:
        return clean_out_of_area_reply(self.cleaned_data["out_of_area_reply"])

    def clean(self):
        cleaned = super().clean()
        delay, unit = cleaned.get("follow_up_delay"), cleaned.get("follow_up_unit")
        if delay is not None and unit in UNITS:
            minutes = delay * UNITS[unit]
            if not FOLLOW_UP_MIN_MINUTES <= minutes <= FOLLOW_UP_MAX_MINUTES:
                self.add_error("follow_up_delay", "Pick a delay between 15 minutes and 7 days.")
            else:
                cleaned["follow_up_delay_minutes"] = minutes
        return cleaned

    def settings_values(self) -> dict:
        """The cleaned data as ResponseSettings fields, for inbox.services_response.response_settings_update."""
        data = dict(self.cleaned_data)
        data.pop("follow_up_delay", None)
        data.pop("follow_up_unit", None)
        return data

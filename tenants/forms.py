"""Forms for the owner's settings pages. They parse and check what a person typed; the writes are in
tenants.settings_services."""

import datetime as dt
import re

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from tenants.models import TIMEZONE_CHOICES, Business, BusinessHours, Holiday
from tenants.scoping import BusinessScopedFormMixin
from tenants.settings_services import (
    LOGO_MAX_SIDE,
    MIDNIGHT,
    Interval,
    check_logo,
    format_interval,
    validate_day_intervals,
)

# --- opening hours as text: "08:00-12:00, 13:00-17:00", "closed", "24h" ---------------------------------------

CLOSED_WORDS = {"", "closed", "close", "off", "none", "no", "-", "x"}
ALL_DAY_WORDS = {"24h", "24 h", "24hrs", "24 hrs", "24 hours", "24/7", "open 24h", "open 24 hours", "all day"}
_TIME = re.compile(r"^(?P<hour>\d{1,2})(?::?(?P<minute>\d{2}))?\s*(?P<meridiem>a|am|a\.m\.|p|pm|p\.m\.)?$")
_DASHES = re.compile("\\s*(?:-|\u2013|\u2014|\\bto\\b|\\buntil\\b|\\btill\\b)\\s*")  # hyphen, en and em dash, words
_SEPARATORS = re.compile(r"\s*(?:,|;|/|&|\band\b)\s*")


class _TimeText:
    """A parsed clock time that remembers whether it was 24:00 and whether am/pm was given."""

    def __init__(self, text: str, day: str):
        match = _TIME.match(text.replace("noon", "12:00").replace("midnight", "24:00").strip())
        if match is None:
            raise ValidationError(
                f"{day}: “{text}” is not a time. Use times like 08:00 and 17:30, or 8am and 5pm.", code="invalid"
            )
        hour, minute = int(match["hour"]), int(match["minute"] or 0)
        self.meridiem = (match["meridiem"] or "")[:1]
        if self.meridiem:
            if not 1 <= hour <= 12:
                raise ValidationError(f"{day}: “{text}” is not a time (with am/pm the hour is 1 to 12).")
            hour = hour % 12 + (12 if self.meridiem == "p" else 0)
        self.is_end_of_day = hour == 24 and minute == 0
        if self.is_end_of_day:
            hour = 0
        if hour > 23 or minute > 59:
            raise ValidationError(f"{day}: “{text}” is not a time. Hours go up to 23 and minutes up to 59.")
        self.value = dt.time(hour, minute)


def parse_day(text: str, *, weekday: int) -> list[Interval]:
    """Turn what an owner typed for one day into intervals. Accepts "closed" (or nothing), "24h",
    "8:00-12:00, 13:00-17:00", "8am-5pm", "8 to 5pm", "0800-1700"; "24:00" and "midnight" mean a midnight close.

    Raises ValidationError naming the day, with a suggestion for the common "8-5" (meaning 5 pm).
    """
    day = BusinessHours.Weekday(weekday).label
    normalised = " ".join(text.lower().split())
    if normalised in CLOSED_WORDS:
        return []
    if normalised in ALL_DAY_WORDS:
        return [(MIDNIGHT, MIDNIGHT)]
    intervals: list[Interval] = []
    for piece in filter(None, _SEPARATORS.split(normalised)):
        ends = _DASHES.split(piece)
        if len(ends) != 2 or not all(ends):
            raise ValidationError(
                f"{day}: “{piece}” should be an opening and a closing time, like 08:00-17:00.", code="invalid"
            )
        opens, closes = _TimeText(ends[0], day), _TimeText(ends[1], day)
        if opens.is_end_of_day:
            raise ValidationError(f"{day}: opening at 24:00 is the next day; use 00:00.", code="invalid")
        # "8-5" almost always means 8 am to 5 pm: say so rather than only "closes before it opens"
        if (
            closes.value != MIDNIGHT
            and closes.value <= opens.value
            and not closes.meridiem
            and opens.value.hour < 12
            and closes.value.hour < 12
        ):
            later = dt.time(closes.value.hour + 12, closes.value.minute)
            raise ValidationError(
                f"{day}: {format_interval(opens.value, closes.value)} closes before it opens. "
                f"Did you mean {format_interval(opens.value, later)}?",
                code="closes_before_opens",
            )
        intervals.append((opens.value, closes.value))
    return intervals


def format_day(intervals: list[Interval]) -> str:
    """The text `parse_day` reads back to the same intervals."""
    if not intervals:
        return "Closed"
    if intervals == [(MIDNIGHT, MIDNIGHT)]:
        return "24h"
    return ", ".join(format_interval(opens, closes) for opens, closes in intervals)


class DayHoursField(forms.CharField):
    """One weekday's hours as text; cleans to a sorted list of (opens, closes)."""

    def __init__(self, *, weekday: int, **kwargs):
        self.weekday = weekday
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 200)
        kwargs.setdefault("label", BusinessHours.Weekday(weekday).label)
        kwargs.setdefault(
            "widget",
            forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none", "placeholder": "Closed"}),
        )
        super().__init__(**kwargs)

    def to_python(self, value):
        text = super().to_python(value)
        if len(text) > self.max_length:
            day = BusinessHours.Weekday(self.weekday).label
            raise ValidationError(f"{day}: keep it under {self.max_length} characters.", code="max_length")
        return parse_day(text, weekday=self.weekday)

    def validate(self, value):
        validate_day_intervals(weekday=self.weekday, intervals=value)

    def run_validators(self, value):
        return None  # the length was checked on the text in to_python; value is the parsed list by now

    def prepare_value(self, value):
        return format_day(value) if isinstance(value, list) else value


WEEK_PRESETS: dict[str, dict] = {
    "weekdays": {
        "label": "Mon\u2013Fri 8\u20135",
        "week": {day: [(dt.time(8), dt.time(17))] if day < 5 else [] for day in range(7)},
    },
    "always": {"label": "24/7", "week": {day: [(MIDNIGHT, MIDNIGHT)] for day in range(7)}},
}


class HoursForm(forms.Form):
    """The whole week on one form, one text box per day, so it is quick on a phone and needs no JavaScript."""

    field_names = {day: BusinessHours.Weekday(day).name.lower() for day in BusinessHours.Weekday.values}

    def __init__(self, *args, week: dict[int, list[Interval]] | None = None, **kwargs):
        initial = kwargs.pop("initial", {})
        if week is not None:
            initial.update({self.field_names[day]: intervals for day, intervals in week.items()})
        super().__init__(*args, initial=initial, **kwargs)
        for day, name in self.field_names.items():
            self.fields[name] = DayHoursField(weekday=day)

    @property
    def week(self) -> dict[int, list[Interval]]:
        """Cleaned intervals by weekday number (call after is_valid())."""
        return {day: self.cleaned_data[name] for day, name in self.field_names.items()}

    def days(self):
        return [self[name] for name in self.field_names.values()]


class HolidayForm(BusinessScopedFormMixin, forms.Form):
    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    name = forms.CharField(
        max_length=80,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "e.g. Christmas Day"}),
        help_text="Optional; only your team sees it.",
    )

    def clean_date(self):
        date = self.cleaned_data["date"]
        today = self.business.local(timezone.now()).date()
        if date < today:
            raise ValidationError("That date has passed. Pick today or a later day.")
        if Holiday.objects.filter(business=self.business, date=date).exists():
            raise ValidationError(f"{date:%A} {date.day} {date:%B %Y} is already a holiday.")
        return date


# --- profile and branding --------------------------------------------------------------------------------------


# Listed first so most owners find theirs without scrolling past Africa; each zone appears once.
COMMON_TIMEZONES = [
    ("America/New_York", "Eastern (New York)"),
    ("America/Chicago", "Central (Chicago)"),
    ("America/Denver", "Mountain (Denver)"),
    ("America/Phoenix", "Arizona (Phoenix)"),
    ("America/Los_Angeles", "Pacific (Los Angeles)"),
    ("America/Anchorage", "Alaska (Anchorage)"),
    ("Pacific/Honolulu", "Hawaii (Honolulu)"),
    ("America/Puerto_Rico", "Atlantic (Puerto Rico)"),
    ("America/Toronto", "Eastern (Toronto)"),
    ("America/Winnipeg", "Central (Winnipeg)"),
    ("America/Edmonton", "Mountain (Edmonton)"),
    ("America/Vancouver", "Pacific (Vancouver)"),
    ("America/Halifax", "Atlantic (Halifax)"),
    ("America/St_Johns", "Newfoundland (St. John's)"),
    ("Europe/London", "UK (London)"),
]


def timezone_choices() -> list:
    common = {zone for zone, _label in COMMON_TIMEZONES}
    return [
        ("United States, Canada and UK", COMMON_TIMEZONES),
        ("All time zones", [(zone, label) for zone, label in TIMEZONE_CHOICES if zone not in common]),
    ]


class ColourInput(forms.TextInput):
    input_type = "color"


class LogoField(forms.FileField):
    """An upload that `check_logo` proves is a real PNG/JPEG/WebP/GIF within the limits; the extension and the
    browser's content type count for nothing."""

    def clean(self, data, initial=None):
        upload = super().clean(data, initial)
        if upload and upload is not initial:
            check_logo(upload)
        return upload


class ProfileForm(forms.ModelForm):
    """Profile and branding. Bind it to a copy of the business: ModelForm validation writes the submitted
    values onto its instance, and the page must keep showing the saved ones when the form has errors."""

    logo = LogoField(
        required=False,
        label="Logo",
        widget=forms.FileInput(attrs={"accept": "image/png,image/jpeg,image/webp,image/gif"}),
    )
    remove_logo = forms.BooleanField(required=False, label="Remove the current logo")
    booking_url = forms.URLField(
        required=False,
        max_length=Business._meta.get_field("booking_url").max_length,
        assume_scheme="https",  # "acme.com/book" means the https page
        label="Booking link",
        help_text="Offered in texts when you have online booking.",
        widget=forms.URLInput(attrs={"placeholder": "https://"}),
    )

    class Meta:
        model = Business
        fields = ["name", "display_name", "timezone", "brand_color", "booking_url", "help_text"]
        labels = {
            "name": "Business name",
            "display_name": "Name in texts",
            "timezone": "Time zone",
            "brand_color": "Brand colour",
            "help_text": "Reply to HELP",
        }
        help_texts = {
            "display_name": (
                "Appears in every text we send, e.g. “Acme Plumbing: sorry we missed your call”. "
                "Keep it short; leave blank to use the business name."
            ),
            "timezone": "Your opening hours are read on this clock.",
            "brand_color": "Used for the header and buttons on the page callers open.",
            "help_text": "Sent when a caller texts HELP: how to reach a person. Up to 300 characters.",
        }
        error_messages = {"timezone": {"invalid_choice": "Pick a time zone from the list."}}
        widgets = {
            "brand_color": ColourInput(attrs={"data-brand-input": ""}),
            "help_text": forms.Textarea(attrs={"rows": 3, "maxlength": 300}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = timezone_choices()
        max_mb = settings.LOGO_MAX_BYTES / 1_048_576
        self.fields["logo"].help_text = (
            f"PNG, JPEG, WebP or GIF, up to {max_mb:.0f} MB and {LOGO_MAX_SIDE}x{LOGO_MAX_SIDE} pixels. "
            "A wide logo on a white or transparent background looks best."
        )
        if not (self.instance and self.instance.logo):
            del self.fields["remove_logo"]

    def clean_brand_color(self):
        return self.cleaned_data["brand_color"].lower()

    def service_kwargs(self) -> dict:
        """The cleaned values as keyword arguments for settings_services.update_business_profile."""
        data = self.cleaned_data
        return {
            **{name: data[name] for name in self._meta.fields},
            "logo": data.get("logo") or None,
            "remove_logo": bool(data.get("remove_logo")),
        }

"""Forms of the owner's on-call page. They parse what a person typed; the rules are checked again, and the writes
made, in inbox.on_call. Member choices are narrowed to the business (BusinessScopedFormMixin), so a forged id of
anyone else is a form error."""

import datetime as dt

from django import forms

from inbox.models import OnCallOverride
from tenants.models import User
from tenants.scoping import BusinessScopedFormMixin

WEEKDAYS = [(0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"), (4, "Friday"), (5, "Saturday")]
WEEKDAYS.append((6, "Sunday"))
HOURS = [(hour, dt.time(hour).strftime("%I:%M %p").lstrip("0")) for hour in range(24)]
NOT_A_MEMBER = {"invalid_choice": "Choose someone on your team.", "invalid_pk_value": "Choose someone on your team."}


class MemberField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        who = f"{obj.full_name} ({obj.email})" if obj.full_name else obj.email
        return who if obj.phone else f"{who} - no phone number"


def _members(*, error_messages: dict | None = None, **kwargs) -> MemberField:
    """Active accounts, narrowed to the form's business members by BusinessScopedFormMixin."""
    queryset = User.objects.filter(is_active=True).order_by("full_name", "email")
    return MemberField(queryset=queryset, error_messages={**NOT_A_MEMBER, **(error_messages or {})}, **kwargs)


class PagingForm(BusinessScopedFormMixin, forms.Form):
    paging_enabled = forms.BooleanField(label="Page someone when a conversation becomes urgent", required=False)
    ack_minutes = forms.IntegerField(
        label="Minutes before the next person is paged",
        min_value=1,
        max_value=60,
        error_messages={
            "required": "Say how many minutes to wait (1 to 60).",
            "invalid": "Enter a whole number of minutes.",
            "min_value": "Wait at least 1 minute.",
            "max_value": "Wait at most 60 minutes.",
        },
    )
    backup = _members(
        label="Backup",
        required=False,
        empty_label="Nobody: after the on-call person, the owners",
        help_text="Paged when the on-call person does not take it in time.",
    )
    rotation_start = forms.DateField(
        label="Rotation starts",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The first person in the rotation is on call from the first handover on or after this day.",
        error_messages={"invalid": "Enter a date, e.g. 2026-01-05."},
    )
    handover_weekday = forms.TypedChoiceField(
        label="Handover day", choices=WEEKDAYS, coerce=int, error_messages={"invalid_choice": "Choose a day."}
    )
    handover_hour = forms.TypedChoiceField(
        label="Handover time", choices=HOURS, coerce=int, error_messages={"invalid_choice": "Choose an hour."}
    )


class RotationAddForm(BusinessScopedFormMixin, forms.Form):
    user = _members(label="Add to the rotation", error_messages={"required": "Choose someone to add."})


class LocalDateTimeField(forms.DateTimeField):
    """A date and time typed on the business's wall clock (an <input type="datetime-local">), returned aware in
    `tz` (set by the form). A time the clocks jump over is refused; one they repeat is the first of the two."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
    tz = dt.UTC

    def to_python(self, value):
        if value in self.empty_values:
            return None
        text = str(value).strip()
        for fmt in self.input_formats:
            try:
                wall = dt.datetime.strptime(text, fmt)  # noqa: DTZ007 - a wall-clock time, made aware below
            except ValueError:
                continue
            if not 2000 <= wall.year <= 2100:
                raise forms.ValidationError("Pick a date between 2000 and 2100.", code="out_of_range")
            aware = wall.replace(tzinfo=self.tz)
            if aware.astimezone(dt.UTC).astimezone(self.tz).replace(tzinfo=None) != wall:
                raise forms.ValidationError(
                    "That time does not exist on that day (the clocks go forward); pick an hour later.", code="gap"
                )
            return aware
        raise forms.ValidationError("Enter a date and time, e.g. 2026-12-24 18:00.", code="invalid")


class OverrideForm(BusinessScopedFormMixin, forms.Form):
    user = _members(label="Who is on call", error_messages={"required": "Choose who covers."})
    starts_at = LocalDateTimeField(label="From", error_messages={"required": "Say when the cover starts."})
    ends_at = LocalDateTimeField(label="Until", error_messages={"required": "Say when it ends."})
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=OnCallOverride._meta.get_field("note").max_length,
        help_text="Optional, e.g. “covering Sam's holiday”.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # times are typed on the business's clock, wherever the owner is
        self.fields["starts_at"].tz = self.fields["ends_at"].tz = self.business.tz

    def clean(self):
        data = super().clean()
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and ends <= starts:
            self.add_error("ends_at", "The end must be after the start.")
        return data

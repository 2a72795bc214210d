"""The owner's intake settings form. It only parses what the browser sends (checkbox lists, one service type a
line, a number); the rules are in intake.settings_services, which the view calls with `service_kwargs()`."""

from django import forms

from intake.models import DEFAULT_CONFIRMATION, DEFAULT_DISCLOSURE, INTAKE_FIELDS, IntakeSettings
from intake.settings_services import (
    FIELD_LABELS,
    MAX_CONFIRMATION_CHARS,
    MAX_DISCLOSURE_CHARS,
    MAX_LINK_LIFETIME_DAYS,
    MAX_SERVICE_TYPES,
    MIN_LINK_LIFETIME_DAYS,
    normalise_service_types,
)

FIELD_CHOICES = [(key, FIELD_LABELS[key]) for key in INTAKE_FIELDS]


def _lines(value: str) -> list[str]:
    return (value or "").splitlines()


class IntakeSettingsForm(forms.Form):
    # Rendered by hand as one table row per field (show / required), not by these widgets.
    fields_shown = forms.MultipleChoiceField(choices=FIELD_CHOICES, required=False, label="Shown")
    fields_required = forms.MultipleChoiceField(choices=FIELD_CHOICES, required=False, label="Required")
    service_types = forms.CharField(
        label="Service types",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "Leak\nWater heater\nDrain"}),
        help_text=f"One a line, up to {MAX_SERVICE_TYPES}. Callers pick one. Leave empty to let them type it.",
    )
    consent_enabled = forms.BooleanField(
        label="Show a consent checkbox",
        required=False,
        help_text="Callers may tick it to agree to follow-up texts; it is never required to send.",
    )
    disclosure_text = forms.CharField(
        label="Consent wording",
        required=False,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": MAX_DISCLOSURE_CHARS, "placeholder": DEFAULT_DISCLOSURE}),
        help_text="{business} becomes your name. Must include “Reply STOP to opt out.” Leave empty for the wording "
        "shown in grey.",
    )
    confirmation_text = forms.CharField(
        label="What happens next",
        required=False,
        strip=True,
        widget=forms.Textarea(
            attrs={"rows": 3, "maxlength": MAX_CONFIRMATION_CHARS, "placeholder": DEFAULT_CONFIRMATION}
        ),
        help_text="Shown after the caller sends, e.g. “We'll call you within 15 minutes during business hours.”",
    )
    link_lifetime_days = forms.IntegerField(
        label="Links stay open for (days)",
        widget=forms.NumberInput(attrs={"min": MIN_LINK_LIFETIME_DAYS, "max": MAX_LINK_LIFETIME_DAYS}),
        help_text=f"{MIN_LINK_LIFETIME_DAYS} to {MAX_LINK_LIFETIME_DAYS}. After that the link shows your phone number.",
    )

    @classmethod
    def initial_for(cls, settings_row: IntakeSettings) -> dict:
        return {
            "fields_shown": list(settings_row.fields_shown),
            "fields_required": list(settings_row.fields_required),
            "service_types": "\n".join(settings_row.service_types),
            "consent_enabled": settings_row.consent_enabled,
            "disclosure_text": settings_row.disclosure_text,
            "confirmation_text": settings_row.confirmation_text,
            "link_lifetime_days": settings_row.link_lifetime_days,
        }

    def clean_service_types(self) -> list[str]:
        return _lines(self.cleaned_data["service_types"])

    def service_kwargs(self) -> dict:
        return dict(self.cleaned_data)

    # --- what the page and the preview show, from submitted input even when it is not valid (yet) ----------

    def _chosen(self, name: str) -> list[str]:
        value = self[name].value() or []
        return [key for key in INTAKE_FIELDS if key in value]

    def field_rows(self) -> list[dict]:
        shown, required = self._chosen("fields_shown"), self._chosen("fields_required")
        return [
            {"key": key, "label": FIELD_LABELS[key], "shown": key in shown, "required": key in required}
            for key in INTAKE_FIELDS
        ]

    def draft(self) -> dict:
        """The settings as typed, parsed leniently: what the live preview renders."""
        return {
            "fields_shown": self._chosen("fields_shown"),
            "fields_required": self._chosen("fields_required"),
            "service_types": normalise_service_types(_lines(self["service_types"].value()))[:MAX_SERVICE_TYPES],
            "consent_enabled": bool(self["consent_enabled"].value()),
            "disclosure_text": self["disclosure_text"].value() or "",
            "confirmation_text": self["confirmation_text"].value() or "",
        }

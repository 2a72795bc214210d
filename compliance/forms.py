"""Forms for the compliance pages. They shape input; the rules that involve other rows live in compliance.review."""

import re

from django import forms
from django.core.exceptions import ValidationError

from compliance.models import ComplianceSettings
from compliance.review import CONFIRM, RESTORE
from secdesk.phone import InvalidPhoneNumber, to_e164

EIN = re.compile(r"^\d{2}-\d{7}$")


class ComplianceSettingsForm(forms.ModelForm):
    """Quiet hours for the text-back, and the facts carriers ask for when registering the business for texting."""

    website = forms.URLField(
        required=False,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://"}),
        help_text="A public page that shows your business name, e.g. https://acmeplumbing.com.",
    )

    class Meta:
        model = ComplianceSettings
        fields = [
            "textback_waits_for_quiet_hours",
            "legal_name",
            "business_type",
            "ein",
            "address",
            "website",
            "contact_email",
            "campaign_description",
            "opt_in_description",
        ]
        labels = {
            "textback_waits_for_quiet_hours": "Hold the text-back during the caller's quiet hours",
            "legal_name": "Legal business name",
            "ein": "EIN (federal tax ID)",
            "address": "Business address",
            "contact_email": "Contact email for carriers",
            "opt_in_description": "Opt-in description",
        }
        help_texts = {
            "textback_waits_for_quiet_hours": (
                "Off (recommended): the text-back goes out right away, whatever the time, because it answers a "
                "call the person just made. On: a call missed late at night gets its text the next morning, when "
                "quiet hours end where the caller lives (8 AM in most states, 9 AM in Texas and Connecticut). "
                "Follow-ups and reminders always wait for quiet hours."
            ),
            "legal_name": "Exactly as on your IRS or state registration.",
            "business_type": "Sole proprietors register without an EIN, with lower sending limits.",
            "ein": "Nine digits, written like 12-3456789. Required for a company.",
            "address": "Street, city, state and ZIP.",
            "contact_email": "Where the carrier's registration team can reach you.",
            "campaign_description": (
                "What your texts are for, in a sentence or two. Leave blank to use our suggestion on the "
                "registration checklist."
            ),
            "opt_in_description": (
                "How people come to receive your texts. Leave blank to use our suggestion: they call you and, "
                "if the call is missed, get one text."
            ),
        }
        widgets = {
            "legal_name": forms.TextInput(attrs={"autocomplete": "organization"}),
            "business_type": forms.RadioSelect,
            "ein": forms.TextInput(attrs={"inputmode": "numeric", "placeholder": "12-3456789"}),
            "address": forms.TextInput(attrs={"autocomplete": "street-address"}),
            "contact_email": forms.EmailInput(attrs={"autocomplete": "email"}),
            "campaign_description": forms.Textarea(attrs={"rows": 3}),
            "opt_in_description": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # a blank choice of the model field is shown as a radio button of its own; keep only the real choices
        self.fields["business_type"].choices = ComplianceSettings.BusinessType.choices

    def clean_ein(self) -> str:
        value = self.cleaned_data["ein"].strip()
        if not value:
            return ""
        digits = re.sub(r"\D", "", value)
        if len(digits) == 9 and re.fullmatch(r"[\d\s-]+", value):
            value = f"{digits[:2]}-{digits[2:]}"
        if not EIN.match(value):
            raise ValidationError("An EIN is nine digits, written like 12-3456789.")
        return value

    def clean(self):
        cleaned = super().clean()
        is_company = cleaned.get("business_type") == ComplianceSettings.BusinessType.COMPANY
        if is_company and not cleaned.get("ein") and "ein" not in self.errors:
            self.add_error("ein", "A company registers with its EIN, written like 12-3456789.")
        return cleaned


class ReviewForm(forms.Form):
    """One operator decision on a natural-language opt-out."""

    outcome = forms.ChoiceField(choices=[(CONFIRM, "Confirm opt-out"), (RESTORE, "Not an opt-out: restore")])
    reason = forms.CharField(
        max_length=300,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "e.g. asked us to stop by the house, not to stop texting"}),
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("outcome") == RESTORE and not (cleaned.get("reason") or "").strip():
            self.add_error("reason", "Say why this was not an opt-out; it is kept as evidence.")
        return cleaned


class LedgerSearchForm(forms.Form):
    number = forms.CharField(
        label="Caller number",
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel", "placeholder": "+1 415 555 0100"}),
    )

    def clean_number(self) -> str:
        value = self.cleaned_data["number"].strip()
        if not value:
            return ""
        try:
            return to_e164(value)
        except InvalidPhoneNumber as exc:
            raise ValidationError(str(exc)) from None

"""The "My settings" form. It only carries input: the rules (a real phone number, a number for texts) live in
inbox.services_member, so the form and any other caller get the same answers."""

from django import forms

from inbox.models import MemberSettings
from inbox.services_member import EDITABLE


class MemberSettingsForm(forms.ModelForm):
    """Labels come from the model, so the page and the data model say the same thing."""

    phone = forms.CharField(
        label="Your mobile number",
        required=False,
        max_length=40,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
        help_text="For alerts by text, and the phone Call back rings first. E.g. (415) 555-0100 or +44 20 7946 0958.",
    )

    class Meta:
        model = MemberSettings
        fields = list(EDITABLE)

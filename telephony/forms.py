"""Forms for the telephony settings pages and the simulator. They shape and normalise input; the rules that
involve other rows (a number taken elsewhere, an account SID in use) live in telephony.settings_services, whose
errors the views put back on these forms."""

from django import forms
from django.core.exceptions import ValidationError

from secdesk.phone import InvalidPhoneNumber, pretty, to_e164
from telephony.models import PhoneNumber
from telephony.providers import provider_choices
from telephony.settings_services import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    RING_TIMEOUT_MAX,
    RING_TIMEOUT_MIN,
)
from telephony.simulation import (
    MAX_TEXT_CHARS,
    OUTCOMES,
    SIMULATOR,
    SimulationError,
    normalise_caller,
    random_caller,
)
from tenants.scoping import BusinessScopedFormMixin

PHONE_ATTRS = {"type": "tel", "autocomplete": "tel", "inputmode": "tel"}


def _e164(value: str) -> str:
    try:
        return to_e164(value)
    except InvalidPhoneNumber as exc:
        raise ValidationError(str(exc)) from None


class PhoneNumberForm(forms.Form):
    """Add or edit a business number. Field names match PhoneNumber and telephony.settings_services."""

    e164 = forms.CharField(
        label="Business number",
        max_length=40,
        widget=forms.TextInput(attrs=PHONE_ATTRS),
        help_text="The number your callers dial, e.g. +1 415 523 8886. For Twilio, a number in your Twilio account.",
    )
    label = forms.CharField(
        max_length=60, required=False, help_text="A name for you and your team, e.g. “Main line” or “Van 2”."
    )
    provider = forms.ChoiceField(label="Carrier")
    mode = forms.ChoiceField(
        label="How calls reach us",
        choices=PhoneNumber.Mode.choices,
        initial=PhoneNumber.Mode.RING,
        widget=forms.RadioSelect,
        help_text="“Ring”: this number rings your phone first and we step in when nobody answers. "
        "“Forwarded”: your own phone forwards the calls it misses to this number, so every call here is missed.",
    )
    forward_to = forms.CharField(
        label="Phone to ring first",
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs=PHONE_ATTRS),
        help_text="Required in ring mode: the mobile or desk phone that should ring, e.g. your own mobile.",
    )
    ring_timeout = forms.IntegerField(
        label="Ring for (seconds)",
        min_value=RING_TIMEOUT_MIN,
        max_value=RING_TIMEOUT_MAX,
        initial=18,
        help_text="Between 5 and 60. Keep it under 20: after about 20 seconds most mobiles send the call to "
        "their own voicemail, which answers before we can text the caller.",
    )
    screening = forms.BooleanField(
        label="Ask whoever answers to press 1",
        required=False,
        initial=True,
        help_text="Recommended. A voicemail cannot press 1, so a call your voicemail picked up still counts as "
        "missed and the caller still gets a text.",
    )
    voicemail_enabled = forms.BooleanField(label="Let callers leave a voicemail", required=False, initial=True)
    voicemail_greeting = forms.CharField(
        label="Voicemail greeting",
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What callers hear before the tone. Leave blank for “Sorry we missed your call to "
        "<your business>. We'll text you right away. You can also leave a message after the tone.”",
    )

    a2p_registered = forms.BooleanField(
        label="Registered for business texting (A2P 10DLC or verified toll-free)",
        required=False,
        help_text="Carriers block texts from unregistered US numbers (error 30034). Tick once your campaign is "
        "approved; the compliance checklist warns about numbers that are not.",
    )
    carrier_handles_keywords = forms.BooleanField(
        label="My carrier already answers STOP and HELP for this number",
        required=False,
        help_text="E.g. Twilio Advanced Opt-Out. We still honour every opt-out, but do not send a second confirmation.",
    )

    def __init__(self, *args, instance: PhoneNumber | None = None, **kwargs):
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {name: getattr(instance, name) for name in self.base_fields}
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = provider_choices()
        self.fields["provider"].initial = self.fields["provider"].choices[0][0]

    def clean_e164(self) -> str:
        return _e164(self.cleaned_data["e164"])

    def clean_forward_to(self) -> str:
        value = self.cleaned_data["forward_to"].strip()
        return _e164(value) if value else ""


class CarrierCredentialForm(forms.Form):
    """The business's own Twilio account. The token is write-only: the field is never filled back in."""

    account_sid = forms.CharField(
        label="Account SID",
        max_length=34,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "class": "mono"}),
        help_text="On your Twilio console's home page: AC followed by 32 letters and digits.",
    )
    auth_token = forms.CharField(
        label="Auth token",
        max_length=32,
        required=False,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password", "spellcheck": "false", "class": "mono"}
        ),
        help_text="Next to the account SID, behind “Show”. Stored encrypted and never shown again.",
    )

    def __init__(self, *args, has_token: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if has_token:
            self.fields["auth_token"].help_text = (
                "Leave blank to keep the stored token. Enter a new one to replace it (required if you change "
                "the account SID)."
            )

    def clean_account_sid(self) -> str:
        value = self.cleaned_data["account_sid"].strip()
        if not ACCOUNT_SID.match(value):
            raise ValidationError("A Twilio account SID is AC followed by 32 letters and digits (0-9, a-f).")
        return value

    def clean_auth_token(self) -> str:
        value = self.cleaned_data["auth_token"].strip()
        if value and not AUTH_TOKEN.match(value):
            raise ValidationError("A Twilio auth token is 32 letters and digits (0-9, a-f).")
        return value


class BlockedNumberForm(forms.Form):
    number = forms.CharField(
        label="Caller number to block",
        max_length=40,
        widget=forms.TextInput(attrs=PHONE_ATTRS),
        help_text="Calls from this number are still recorded, but never texted.",
    )
    reason = forms.CharField(max_length=120, required=False, help_text="Optional, e.g. “robocaller”.")

    def clean_number(self) -> str:
        return _e164(self.cleaned_data["number"])


class NumberChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: PhoneNumber) -> str:
        return f"{obj.label} · {pretty(obj.e164)}" if obj.label else pretty(obj.e164)


class SimulatorForm(BusinessScopedFormMixin, forms.Form):
    """Place a test call: which simulator number, from whom, and what happens while it rings."""

    number = NumberChoiceField(
        label="Call this number", queryset=PhoneNumber.objects.filter(provider=SIMULATOR), empty_label=None
    )
    caller = forms.CharField(
        label="From (the caller)",
        max_length=40,
        widget=forms.TextInput(attrs=PHONE_ATTRS),
        help_text="Any valid number, or “anonymous” to see how withheld numbers are handled.",
    )
    outcome = forms.ChoiceField(
        label="While it rings", choices=list(OUTCOMES.items()), initial="no-answer", widget=forms.RadioSelect
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["caller"].initial = random_caller()

    def clean_caller(self) -> str:
        try:
            return normalise_caller(self.cleaned_data["caller"])
        except SimulationError as exc:
            raise ValidationError(str(exc)) from None


class SimulatorReplyForm(forms.Form):
    """A text from the simulated caller to the business. The caller comes from the phone on the page (a hidden
    field), so its error is shown above the form; the body is what the person types."""

    caller = forms.CharField(
        max_length=40,
        widget=forms.HiddenInput,
        error_messages={"required": "The caller's number is missing: place a test call first."},
    )
    body = forms.CharField(
        label="Text",
        max_length=MAX_TEXT_CHARS,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "e.g. My kitchen sink is leaking, can you come today?"}),
        error_messages={
            "required": "Type the caller's text.",
            "max_length": "A text can be at most %(limit_value)d characters; this one has %(show_value)d.",
        },
    )

    def clean_caller(self) -> str:
        try:
            return to_e164(self.cleaned_data["caller"])
        except InvalidPhoneNumber as exc:
            raise ValidationError(f"The caller's number cannot text: {exc}") from None

"""Django admin for platform staff. The carrier auth token is write-only here too: only its last 4 are shown."""

from django import forms
from django.contrib import admin

from secdesk.phone import pretty
from telephony import selectors
from telephony.models import BlockedNumber, Call, CarrierCredential, PhoneNumber
from telephony.settings_services import ACCOUNT_SID, AUTH_TOKEN


class CarrierCredentialAdminForm(forms.ModelForm):
    """The encrypted column is never a form field; a new token is typed in and encrypted on save."""

    new_auth_token = forms.CharField(
        label="New auth token",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave blank to keep the stored token. Stored encrypted; never shown again.",
    )

    class Meta:
        model = CarrierCredential
        fields = ("business", "provider", "account_sid")

    def clean_account_sid(self) -> str:
        value = self.cleaned_data["account_sid"].strip()
        if self.cleaned_data.get("provider", "twilio") == "twilio" and not ACCOUNT_SID.match(value):
            raise forms.ValidationError("A Twilio account SID is AC followed by 32 hex digits.")
        return value

    def clean(self):
        cleaned = super().clean()
        token = cleaned.get("new_auth_token", "")
        if token and cleaned.get("provider") == "twilio" and not AUTH_TOKEN.match(token):
            self.add_error("new_auth_token", "A Twilio auth token is 32 hex digits.")
        if not token and not self.instance.auth_token_encrypted:
            self.add_error("new_auth_token", "Enter the auth token.")
        return cleaned

    def save(self, commit=True):
        token = self.cleaned_data.get("new_auth_token")
        if token:
            self.instance.auth_token = token
        return super().save(commit=commit)


@admin.register(CarrierCredential)
class CarrierCredentialAdmin(admin.ModelAdmin):
    form = CarrierCredentialAdminForm
    list_display = ("account_sid", "business", "provider", "token", "updated_at")
    list_filter = ("provider",)
    search_fields = ("account_sid", "business__name", "business__slug")
    list_select_related = ("business",)
    raw_id_fields = ("business",)
    readonly_fields = ("token", "created_at", "updated_at")
    fields = ("business", "provider", "account_sid", "token", "new_auth_token", "created_at", "updated_at")

    @admin.display(description="Auth token")
    def token(self, obj: CarrierCredential) -> str:
        return selectors.masked_token(obj) if obj.pk else "—"


@admin.register(PhoneNumber)
class PhoneNumberAdmin(admin.ModelAdmin):
    list_display = ("e164", "label", "business", "provider", "mode", "forward_to", "ring_timeout", "screening")
    list_filter = ("provider", "mode", "screening", "voicemail_enabled")
    search_fields = ("e164", "label", "forward_to", "business__name", "business__slug")
    list_select_related = ("business",)
    raw_id_fields = ("business",)
    readonly_fields = ("created_at",)


@admin.register(BlockedNumber)
class BlockedNumberAdmin(admin.ModelAdmin):
    list_display = ("e164", "business", "reason", "created_at")
    search_fields = ("e164", "reason", "business__name", "business__slug")
    list_select_related = ("business",)
    raw_id_fields = ("business",)


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    """Calls are written by webhooks; staff read them (and may correct nothing that the carrier reported)."""

    list_display = ("started_at", "business", "phone_number", "caller_display", "status", "missed_reason", "decision")
    list_filter = ("status", "missed_reason", "decision", "provider", "direction")
    search_fields = ("provider_call_id", "caller", "from_raw", "caller_name", "business__name", "business__slug")
    list_select_related = ("business", "phone_number")
    date_hierarchy = "started_at"
    raw_id_fields = ("business", "phone_number", "contact", "conversation")
    readonly_fields = [f.name for f in Call._meta.fields]

    @admin.display(description="Caller", ordering="caller")
    def caller_display(self, obj: Call) -> str:
        return pretty(obj.caller) if obj.caller else (obj.from_raw or "—")

    def has_add_permission(self, request) -> bool:
        return False

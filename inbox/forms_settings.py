"""Forms of the owner's inbox settings pages. They parse what a person typed; the rules are checked again, and the
writes made, in inbox.settings_services."""

from django import forms

from inbox.canned import MAX_BODY_CHARS, normalise_body, validate_body
from inbox.models import CannedReply, RoutingSettings, Territory
from inbox.settings_services import parse_zip_prefixes
from tenants.models import User
from tenants.scoping import BusinessScopedFormMixin


class RoutingModeForm(forms.Form):
    mode = forms.ChoiceField(
        label="Who gets a new conversation",
        choices=RoutingSettings.Mode.choices,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": "Choose one of the assignment rules listed.", "required": "Choose a rule."},
    )


class MemberChoiceField(forms.ModelMultipleChoiceField):
    """Team members as checkboxes, by name and email. The queryset is narrowed to the form's business by
    BusinessScopedFormMixin, so a forged id of anyone else is a form error."""

    def label_from_instance(self, obj: User) -> str:
        return f"{obj.full_name} ({obj.email})" if obj.full_name else obj.email


class TerritoryForm(BusinessScopedFormMixin, forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=Territory._meta.get_field("name").max_length,
        error_messages={"required": "Give the territory a name, e.g. “North side”."},
    )
    zip_prefixes = forms.CharField(
        label="ZIP codes or prefixes",
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 3, "inputmode": "numeric", "autocapitalize": "none"}),
        help_text="Separated by commas, spaces or new lines. 94107 is one ZIP code; 941 covers every ZIP code "
        "starting 941. When a caller's ZIP matches two territories, the longer match wins.",
        error_messages={"required": "List at least one ZIP code or prefix."},
    )
    assignees = MemberChoiceField(
        label="Who takes its conversations (in turn)",
        queryset=User.objects.order_by("full_name", "email"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Nobody, or nobody available: its conversations go round the whole team.",
        error_messages={
            "invalid_choice": "Choose people on your team only.",
            "invalid_pk_value": "Choose people on your team only.",
        },
    )

    def clean_zip_prefixes(self) -> list[str]:
        return parse_zip_prefixes(self.cleaned_data["zip_prefixes"])

    @classmethod
    def initial_for(cls, territory: Territory) -> dict:
        return {
            "name": territory.name,
            "zip_prefixes": ", ".join(territory.zip_prefixes),
            "assignees": list(territory.assignees.values_list("pk", flat=True)),
        }


class CannedReplyForm(forms.Form):
    title = forms.CharField(
        label="Title",
        max_length=CannedReply._meta.get_field("title").max_length,
        help_text="What operators pick it by, e.g. “On our way” or “Send a photo”.",
        error_messages={"required": "Give the reply a short title, e.g. “On our way”."},
    )
    body = forms.CharField(
        label="Text",
        strip=False,  # normalised (CRLF to LF, then stripped) in clean_body, as replies are when sent
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": MAX_BODY_CHARS, "id": "canned-body"}),
        help_text="You can use {first_name} (the caller's first name, left out when unknown) and {business}.",
        error_messages={"required": "Write the text of the reply."},
    )

    def clean_body(self) -> str:
        body = normalise_body(self.cleaned_data["body"])
        validate_body(body)
        return body

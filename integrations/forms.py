"""The owner's "add an endpoint" form. It parses what was typed; the URL and event rules are checked again, and
the endpoint written, in integrations.services."""

from django import forms

from integrations.models import EVENT_TYPES, WebhookEndpoint


class EndpointForm(forms.Form):
    kind = forms.ChoiceField(
        label="Type",
        choices=WebhookEndpoint.Kind.choices,
        initial=WebhookEndpoint.Kind.WEBHOOK,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": "Choose webhook or Slack.", "required": "Choose webhook or Slack."},
    )
    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks/seconddesk", "autocomplete": "off"}),
        help_text="Your receiver's address (http or https, reachable from the internet), or a Slack "
        "incoming-webhook URL.",
        error_messages={"required": "Enter the address to post events to.", "invalid": "Enter a full web address."},
    )
    events = forms.MultipleChoiceField(
        label="Events to send",
        choices=EVENT_TYPES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Slack hears about new leads, urgent cases and booked jobs only.",
        error_messages={"invalid_choice": "Choose events from the list."},
    )

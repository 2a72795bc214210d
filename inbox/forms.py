"""Forms of the operator inbox. They only carry input: the rules live in inbox.services."""

from django import forms


class ReplyForm(forms.Form):
    """The reply composer. Length and consent are checked by `message_reply`, the one place that queues replies."""

    body = forms.CharField(
        label="Reply",
        required=False,  # an empty body gets the service's message, the same one the API would give
        strip=False,  # the service normalises line endings before stripping, so counts match the live counter
        widget=forms.Textarea(attrs={"rows": 3}),
    )

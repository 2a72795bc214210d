from django import forms

from messaging import templating
from messaging.models import TextbackSettings


def _template_field(label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=templating.MAX_TEMPLATE_CHARS,
        widget=forms.Textarea(attrs={"rows": 4, "data-template-input": ""}),
        error_messages={"max_length": f"Keep it under {templating.MAX_TEMPLATE_CHARS} characters."},
    )


class TextbackSettingsForm(forms.ModelForm):
    open_template = _template_field("Text-back during business hours")
    closed_template = _template_field("Text-back after hours")
    delay_seconds = forms.IntegerField(
        label="Delay before texting (seconds)",
        min_value=0,
        max_value=120,
        initial=0,
        help_text="0 texts at once. Up to 120 s if you like to call back first.",
    )

    class Meta:
        model = TextbackSettings
        fields = ["open_template", "closed_template", "delay_seconds"]

    def _clean_template(self, name: str) -> str:
        value = self.cleaned_data[name].strip()
        try:
            templating.validate_template(value)
        except templating.TemplateError as exc:
            raise forms.ValidationError(str(exc)) from None
        return value

    def clean_open_template(self) -> str:
        return self._clean_template("open_template")

    def clean_closed_template(self) -> str:
        return self._clean_template("closed_template")

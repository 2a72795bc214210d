"""The caller's form, built from the business's IntakeSettings, with every label and error in the page's language.

It never asks for the phone number (the link knows it) nor for any id: the link decides which conversation the
answers belong to. It asks nothing about payment, health or legal matters."""

import re

from django import forms
from django.core.exceptions import ValidationError

from intake.i18n import CALLBACK_WINDOW_LABELS, CUSTOMER_TYPE_LABELS, URGENCY_LABELS, strings
from intake.models import INTAKE_FIELDS, IntakeSettings, IntakeSubmission
from intake.services import (
    MAX_PHOTOS,
    MAX_PHOTOS_TOTAL_BYTES,
    check_photo,
    disclosure_fingerprint,
)

HONEYPOT_FIELD = "website"
ZIP_RE = re.compile(r"^[0-9]{5}(-[0-9]{4})?$")  # ASCII digits only
PHOTO_ACCEPT = "image/jpeg,image/png,image/webp"


class MultiplePhotoInput(forms.FileInput):
    allow_multiple_selected = True


class MultiplePhotoField(forms.FileField):
    """Up to MAX_PHOTOS files; each checked with Pillow (services.check_photo), then the total size."""

    def __init__(self, *args, messages: dict[str, str], **kwargs):
        self.messages = messages
        kwargs.setdefault("widget", MultiplePhotoInput(attrs={"accept": PHOTO_ACCEPT}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        uploads = [f for f in (data if isinstance(data, list | tuple) else [data]) if f]
        if not uploads:
            if self.required:
                raise ValidationError(self.messages["err_photos_required"], code="required")
            return []
        if len(uploads) > MAX_PHOTOS:
            raise ValidationError(self.messages["err_photo_count"], code="too_many")
        errors, total = [], 0
        for upload in uploads:
            name = (upload.name or "photo")[-60:]
            try:
                checked = check_photo(upload)
            except ValidationError as exc:
                if exc.code == "too_large":
                    size = f"{(upload.size or 0) / 1_048_576:.1f}"
                    errors.append(ValidationError(self.messages["err_photo_size"].format(name=name, size=size)))
                else:
                    errors.append(ValidationError(self.messages["err_photo_type"].format(name=name)))
                continue
            total += checked.size
        if errors:
            raise ValidationError(errors)
        if total > MAX_PHOTOS_TOTAL_BYTES:
            raise ValidationError(
                self.messages["err_photo_total"].format(size=f"{total / 1_048_576:.1f}"), code="too_large_total"
            )
        return uploads


class IntakeForm(forms.Form):
    """Fields shown and required per the business's settings, in their order; the consent box when enabled, with
    the exact disclosure text as its label; a honeypot that people never see."""

    def __init__(
        self,
        *args,
        intake_settings: IntakeSettings,
        language: str,
        disclosure: str,
        submission: IntakeSubmission | None = None,
        **kwargs,
    ):
        self.language = language
        self.text = text = strings(language)
        self.disclosure = disclosure
        self.submission = submission
        self.existing_photos = submission.photos.count() if submission is not None and submission.pk else 0
        if submission is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                **{f: getattr(submission, f) for f in INTAKE_FIELDS if f != "photos"},
                "consent": submission.consent_given,
            }
        super().__init__(*args, **kwargs)
        shown = [f for f in intake_settings.fields_shown if f in INTAKE_FIELDS]
        required = set(intake_settings.fields_required)
        service_types = [str(s) for s in intake_settings.service_types if str(s).strip()]
        if not service_types and "service_type" in shown:
            shown.remove("service_type")
        if submission is not None and submission.service_type and submission.service_type not in service_types:
            # the owner renamed or removed a type after the caller chose it: keep the caller's answer valid
            service_types.append(submission.service_type)
        required_msg = {"required": text["err_required"]}
        choice_msg = {"required": text["err_required_choice"], "invalid_choice": text["err_choice"]}

        def char(name: str, max_length: int, **extra) -> forms.CharField:
            return forms.CharField(
                label=text[name],
                max_length=max_length,
                required=name in required,
                error_messages={**required_msg, "max_length": text["err_too_long"].format(max=max_length)},
                **extra,
            )

        def radios(name: str, labels: dict[str, str]) -> forms.ChoiceField:
            return forms.ChoiceField(
                label=text[name],
                choices=list(labels.items()),
                required=name in required,
                widget=forms.RadioSelect,
                error_messages=choice_msg,
            )

        builders = {
            "name": lambda: char("name", 120, widget=forms.TextInput(attrs={"autocomplete": "name"})),
            "service_type": lambda: forms.ChoiceField(
                label=text["service_type"],
                choices=[("", text["service_type_empty"]), *((s, s) for s in service_types)],
                required="service_type" in required,
                error_messages=choice_msg,
            ),
            "description": lambda: char(
                "description",
                2000,
                widget=forms.Textarea(attrs={"rows": 4}),
                help_text=text["description_help"],
            ),
            "address": lambda: char("address", 200, widget=forms.TextInput(attrs={"autocomplete": "street-address"})),
            "zip_code": lambda: forms.RegexField(
                ZIP_RE,
                label=text["zip_code"],
                max_length=10,
                required="zip_code" in required,
                help_text=text["zip_help"],
                error_messages={**required_msg, "invalid": text["err_zip"], "max_length": text["err_zip"]},
                widget=forms.TextInput(attrs={"autocomplete": "postal-code", "inputmode": "numeric", "size": 10}),
            ),
            "urgency": lambda: radios("urgency", URGENCY_LABELS[language]),
            "callback_window": lambda: radios("callback_window", CALLBACK_WINDOW_LABELS[language]),
            "customer_type": lambda: radios("customer_type", CUSTOMER_TYPE_LABELS[language]),
            "photos": lambda: MultiplePhotoField(
                label=text["photos_required" if "photos" in required else "photos"],
                # photos already sent satisfy "required"; new ones replace them
                required="photos" in required and not self.existing_photos,
                help_text=text["photos_help"],
                messages=text,
            ),
        }
        for name in shown:
            self.fields[name] = builders[name]()
        if intake_settings.consent_enabled:
            self.fields["consent"] = forms.BooleanField(label=disclosure, required=False)
            self.fields["disclosure_fingerprint"] = forms.CharField(
                widget=forms.HiddenInput, required=False, initial=disclosure_fingerprint(disclosure)
            )
        self.fields[HONEYPOT_FIELD] = forms.CharField(
            label=text["honeypot"],
            required=False,
            widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
        )

    @property
    def is_spam(self) -> bool:
        """A bot filled the field people never see. Only meaningful after is_valid()."""
        return bool(self.cleaned_data.get(HONEYPOT_FIELD))

    def clean(self):
        cleaned = super().clean()
        if "consent" not in self.fields:
            return cleaned
        current = disclosure_fingerprint(self.disclosure)
        if cleaned.get("consent") and cleaned.get("disclosure_fingerprint") != current:
            # consent must be recorded with the words the caller read; the owner changed them in between
            self.add_error("consent", self.text["err_disclosure_changed"])
        # a re-shown form carries the words it now shows
        self.data = self.data.copy()
        self.data["disclosure_fingerprint"] = current
        return cleaned

    def answers(self) -> dict:
        """Cleaned answers for services.intake_submit: the text fields and `consent`."""
        return {k: v for k, v in self.cleaned_data.items() if k not in ("photos", HONEYPOT_FIELD)}

    def photos(self) -> list:
        return list(self.cleaned_data.get("photos") or [])

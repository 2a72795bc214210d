"""Forms for sign-up, login, invitations and the team page.

Forms check the shape of input (formats, lengths, allowed choices); the rules that need the database (email
or slug taken, last owner) live in `tenants.services` and come back as `ValidationError`s that views attach to
the form with `add_error`.
"""

import re
import secrets

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.password_validation import password_validators_help_text_html
from django.utils.text import slugify

from tenants import services
from tenants.models import TIMEZONE_CHOICES, Membership

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,48}[a-z0-9])$")
DEFAULT_TIMEZONE = "America/New_York"


def slug_suggestion(name: str) -> str:
    """A free dashboard address derived from a business name: `acme-plumbing`, else `acme-plumbing-2`, ..."""
    base = slugify(name)[:44].strip("-") or "business"
    if len(base) < 3:
        base = f"{base}-desk"
    for n in range(1, 100):
        candidate = base if n == 1 else f"{base}-{n}"
        if candidate not in services.RESERVED_SLUGS and not services.slug_taken(candidate):
            return candidate
    return f"{base}-{secrets.token_hex(3)}"


class EmailAuthenticationForm(AuthenticationForm):
    """Django's login form, presented as email + password (the backend matches the email case-insensitively)."""

    username = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email", "inputmode": "email"}),
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password do not match an account. The password is case-sensitive.",
    }


class BusinessFieldsMixin(forms.Form):
    business_name = forms.CharField(label="Business name", max_length=120, widget=forms.TextInput())
    slug = forms.CharField(
        label="Dashboard address",
        required=False,
        max_length=50,
        help_text="Your dashboard lives at /app/&lt;address&gt;/. Lowercase letters, digits and hyphens. "
        "Leave empty to use one made from your business name.",
        widget=forms.TextInput(attrs={"autocapitalize": "none", "autocorrect": "off", "spellcheck": "false"}),
    )
    timezone = forms.ChoiceField(
        label="Time zone",
        choices=TIMEZONE_CHOICES,
        initial=DEFAULT_TIMEZONE,
        help_text="Opening hours are read in this time zone.",
        error_messages={"invalid_choice": "Choose a time zone from the list."},
    )

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"].strip().lower()
        if slug and not SLUG_RE.match(slug):
            raise forms.ValidationError(
                "Use 3 to 50 lowercase letters, digits or hyphens, starting and ending with a letter or digit."
            )
        return slug

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("slug") and cleaned.get("business_name") and "slug" not in self.errors:
            cleaned["slug"] = slug_suggestion(cleaned["business_name"])
        return cleaned


class SignupForm(BusinessFieldsMixin):
    """A new person and their business. Field order is the order people think in: who, then what business."""

    full_name = forms.CharField(
        label="Your name", max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    email = forms.EmailField(label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validators_help_text_html(),
    )

    field_order = ["full_name", "email", "password", "business_name", "slug", "timezone"]


class NewBusinessForm(BusinessFieldsMixin):
    """Another business for a person who already has an account."""


class InvitationSignupForm(forms.Form):
    """The account for an invited email: the email comes from the invitation, so only name and password."""

    full_name = forms.CharField(
        label="Your name", max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    password = forms.CharField(
        label="Choose a password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validators_help_text_html(),
    )


class InvitationForm(forms.Form):
    """Invite someone. The role choices stop at the inviter's own role (admins cannot invite owners)."""

    email = forms.EmailField(label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(label="Role", initial=Membership.Role.OPERATOR)

    def __init__(self, *args, acting: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = services.assignable_roles(acting=acting)


class RoleForm(forms.Form):
    """Change one member's role; choices as for invitations."""

    role = forms.ChoiceField(label="Role")

    def __init__(self, *args, acting: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = services.assignable_roles(acting=acting)

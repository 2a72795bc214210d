"""The owner's intake settings page, with a live preview of the caller's page (htmx as the owner edits, or the
plain "Update preview" button without JavaScript). Views translate HTTP into a form check and a call to
intake.settings_services, then redirect."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from intake.forms_settings import IntakeSettingsForm
from intake.models import IntakeSubmission
from intake.settings_services import (
    effective_confirmation,
    effective_disclosure,
    intake_settings_or_defaults,
    intake_settings_update,
)
from tenants.permissions import MANAGERS, role_required

# How each field reads on the caller's page (the mock only: the caller page has its own, translated labels).
PREVIEW_FIELDS = {
    "name": {"label": "Your name", "kind": "text"},
    "service_type": {"label": "What do you need?", "kind": "select"},
    "description": {"label": "Tell us about the job", "kind": "textarea"},
    "address": {"label": "Service address", "kind": "text"},
    "zip_code": {"label": "ZIP code", "kind": "text"},
    "urgency": {"label": "How urgent is it?", "kind": "radio", "options": IntakeSubmission.Urgency.labels},
    "callback_window": {"label": "Best time to call you back", "kind": "text"},
    "customer_type": {
        "label": "Have we worked for you before?",
        "kind": "radio",
        "options": IntakeSubmission.CustomerType.labels,
    },
    "photos": {"label": "Photos (up to 3)", "kind": "file"},
}


def _preview(business, draft: dict) -> dict:
    """What the caller's page would show with these (possibly unsaved) settings."""
    required = set(draft["fields_required"])
    fields = []
    for key in draft["fields_shown"]:
        spec = PREVIEW_FIELDS[key]
        field = {"key": key, "required": key in required, **spec}
        if key == "service_type":
            field["options"] = draft["service_types"]
            if not draft["service_types"]:
                field["kind"] = "text"
        fields.append(field)
    return {
        "business": business,
        "fields": fields,
        "consent_enabled": draft["consent_enabled"],
        "disclosure": effective_disclosure(disclosure_text=draft["disclosure_text"], business=business),
        "confirmation": effective_confirmation(confirmation_text=draft["confirmation_text"], business=business),
    }


def _render_page(request, form: IntakeSettingsForm):
    context = {"form": form, "field_rows": form.field_rows(), "preview": _preview(request.business, form.draft())}
    return render(request, "intake/settings.html", context)


@role_required(*MANAGERS)
@require_http_methods(["GET", "HEAD", "POST"])
def intake_settings(request, business_slug):
    """Fields shown and required, service types, consent wording, confirmation, link lifetime. POST saves and
    redirects; a POST with `preview` (the no-JavaScript button) only re-renders with the preview updated."""
    business = request.business
    if request.method != "POST":
        form = IntakeSettingsForm(
            initial=IntakeSettingsForm.initial_for(intake_settings_or_defaults(business=business))
        )
        return _render_page(request, form)

    form = IntakeSettingsForm(request.POST)
    if "preview" not in request.POST and form.is_valid():
        try:
            intake_settings_update(business=business, actor=request.user, **form.service_kwargs())
        except ValidationError as exc:
            errors = exc.error_dict if hasattr(exc, "error_dict") else {None: exc.error_list}
            for field, messages_ in errors.items():
                form.add_error(field if field in form.fields else None, messages_)
        else:
            messages.success(request, "Intake page saved.")
            return redirect("settings_intake", business_slug=business.slug)
    return _render_page(request, form)


@role_required(*MANAGERS)
@require_POST
def intake_settings_preview(request, business_slug):
    """The preview partial for htmx as the owner edits; a plain POST here gets the whole page instead."""
    form = IntakeSettingsForm(request.POST)
    if not request.htmx:
        return _render_page(request, form)
    return render(request, "intake/_settings_preview.html", {"preview": _preview(request.business, form.draft())})

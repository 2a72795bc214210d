"""The owner's "Urgency & response" page, /app/<business_slug>/settings/response/: what counts as urgent, how fast
callers should hear back, the follow-up nudge and the out-of-area reply. Owners and admins only; operators get
403. POST saves (or, with the "Update preview" button, only re-renders the previews)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from inbox.canned import SAMPLE_FIRST_NAME
from inbox.canned import VARIABLES as REPLY_VARIABLES
from inbox.canned import render as render_reply
from inbox.forms_response import TRADE_LABELS, ResponseSettingsForm
from inbox.services_response import (
    clean_follow_up_template,
    clean_out_of_area_reply,
    response_settings_or_default,
    response_settings_update,
)
from inbox.sla import DEFAULT_FOLLOW_UP, follow_up_text, sla_deadline
from inbox.urgency import GENERIC_PHRASES, TRADE_PHRASES
from messaging.segments import analyse
from messaging.templating import VARIABLES as TEMPLATE_VARIABLES
from tenants.permissions import MANAGERS, role_required

SAMPLE_CALLER = f"{SAMPLE_FIRST_NAME} Rivera"


def _preview(title: str, text_or_error) -> dict:
    if isinstance(text_or_error, ValidationError):
        return {"title": title, "error": " ".join(text_or_error.messages)}
    info = analyse(text_or_error)
    return {
        "title": title,
        "body": text_or_error,
        "characters": len(text_or_error),
        "encoding": info.encoding,
        "segments": info.segments,
    }


def _previews(business, *, follow_up_raw: str, out_of_area_raw: str) -> list[dict]:
    """How the two texts read to a caller called Sam Rivera, and what each costs; a text that breaks the rules
    shows its error instead."""
    try:
        template = clean_follow_up_template(follow_up_raw)
        follow_up = follow_up_text(business=business, template=template, contact_name=SAMPLE_CALLER, intake_link="")
        follow_up = follow_up.body
    except ValidationError as exc:
        follow_up = exc
    previews = [_preview("Follow-up", follow_up)]
    try:
        reply = clean_out_of_area_reply(out_of_area_raw)
    except ValidationError as exc:
        previews.append(_preview("Out-of-area reply", exc))
    else:
        if reply:
            text = render_reply(reply, first_name=SAMPLE_FIRST_NAME, business_name=business.sender_name)
            previews.append(_preview("Out-of-area reply", text))
    return previews


def _when(at, *, today) -> str:
    """A local time as "today at 8:15 AM" or "Tuesday at 8:15 AM" (formatted here: the template would show it in
    the server's time zone)."""
    day = "today" if at.date() == today else f"{at:%A}"
    return f"{day} at {at:%I:%M %p}".replace(" at 0", " at ")


def _render(request, *, form: ResponseSettingsForm, settings):
    business = request.business
    if form.is_bound:
        raw = {name: form.data.get(name, "") for name in ("follow_up_template", "out_of_area_reply")}
    else:
        raw = {"follow_up_template": settings.follow_up_template, "out_of_area_reply": settings.out_of_area_reply}
    now = timezone.now()
    due = business.local(sla_deadline(business=business, now=now, settings=settings))
    return render(
        request,
        "inbox/settings_response.html",
        {
            "form": form,
            "settings": settings,
            "trade_phrases": [(TRADE_LABELS.get(t, t), phrases) for t, phrases in TRADE_PHRASES.items()],
            "generic_phrases": GENERIC_PHRASES,
            "template_variables": TEMPLATE_VARIABLES,
            "reply_variables": REPLY_VARIABLES,
            "default_follow_up": DEFAULT_FOLLOW_UP,
            "previews": _previews(
                business, follow_up_raw=raw["follow_up_template"], out_of_area_raw=raw["out_of_area_reply"]
            ),
            "open_now": business.is_open(now),
            "due_label": _when(due, today=business.local(now).date()),
        },
    )


@role_required(*MANAGERS)
@require_http_methods(["GET", "HEAD", "POST"])
def response_settings(request, business_slug: str):
    business = request.business
    settings = response_settings_or_default(business=business)
    if request.method != "POST":
        return _render(
            request, form=ResponseSettingsForm(initial=ResponseSettingsForm.initial_for(settings)), settings=settings
        )
    form = ResponseSettingsForm(request.POST)
    if "preview" in request.POST:
        form.is_valid()  # shows the fields' errors with the previews; saves nothing
        return _render(request, form=form, settings=settings)
    if form.is_valid():
        try:
            response_settings_update(business=business, actor=request.user, **form.settings_values())
        except ValidationError as exc:
            for field, errors in exc.error_dict.items():
                field = "follow_up_delay" if field == "follow_up_delay_minutes" else field
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, "Urgency and response settings saved.")
            return redirect("settings_response", business_slug=business.slug)
    return _render(request, form=form, settings=settings)

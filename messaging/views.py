from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from messaging import templating
from messaging.forms import TextbackSettingsForm
from messaging.segments import analyse
from messaging.services import textback_settings_for
from tenants.permissions import MANAGERS, role_required

WARN_SEGMENTS = 2


def _previews(business, data) -> list[dict]:
    """How each template reads on a caller's phone, with its cost in segments."""
    context = templating.template_context(business=business, contact_name="Sam Rivera")
    previews = []
    for key, title in (("open_template", "During business hours"), ("closed_template", "After hours")):
        text = (data.get(key) or "").strip()
        preview = {"title": title, "key": key}
        try:
            rendered = templating.render(text, context, opt_out_footer=True)
        except templating.TemplateError as exc:
            preview["error"] = str(exc)
        else:
            info = analyse(rendered.body)
            preview.update(
                body=rendered.body,
                encoding=info.encoding,
                segments=info.segments,
                characters=len(rendered.body),
                non_gsm="".join(info.non_gsm[:10]),
                too_long=info.segments > WARN_SEGMENTS,
            )
        previews.append(preview)
    return previews


@role_required(*MANAGERS)
def templates_settings(request, business_slug):
    """Text-back wording, with a live preview (htmx) that also works as a plain form."""
    config = textback_settings_for(request.business)
    form = TextbackSettingsForm(request.POST or None, instance=config)
    if request.method == "POST" and "preview" not in request.POST and form.is_valid():
        form.save()
        request.business.templates_reviewed_at = timezone.now()
        request.business.save(update_fields=["templates_reviewed_at"])
        messages.success(request, "Text-back templates saved.")
        return redirect("settings-templates", business_slug=request.business.slug)
    data = (
        request.POST
        if request.method == "POST"
        else {"open_template": config.open_template, "closed_template": config.closed_template}
    )
    context = {"form": form, "previews": _previews(request.business, data), "variables": templating.VARIABLES}
    return render(request, "messaging/settings_templates.html", context)


@role_required(*MANAGERS)
@require_POST
def templates_preview(request, business_slug):
    """The preview partial, for htmx as the owner types."""
    return render(request, "messaging/_template_previews.html", {"previews": _previews(request.business, request.POST)})

"""The "My settings" page under /app/<business_slug>/me/: every member's own phone, alerts and away switch."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render

from inbox.forms_member import MemberSettingsForm
from inbox.notifications import member_settings_for
from inbox.services_member import EDITABLE, member_settings_update
from secdesk.phone import pretty
from tenants.permissions import EVERYONE, role_required


@role_required(*EVERYONE)
def member_settings(request, business_slug: str):
    """Show and save the member's own settings in this business (any role; only ever their own). A rule the
    service refuses comes back as an error under the field, with what they typed kept."""
    membership = request.membership
    current = member_settings_for(membership)
    phone = request.user.phone
    form = MemberSettingsForm(request.POST or None, instance=current, initial={"phone": pretty(phone) if phone else ""})
    if request.method == "POST" and form.is_valid():
        try:
            member_settings_update(
                membership=membership,
                phone=form.cleaned_data["phone"],
                **{name: form.cleaned_data[name] for name in EDITABLE},
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Your settings are saved.")
            return redirect("member_settings", business_slug=request.business.slug)
    return render(request, "inbox/member_settings.html", {"form": form, "email": request.user.email})

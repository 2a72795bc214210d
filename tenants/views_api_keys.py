"""The API keys page under /app/<business_slug>/settings/api-keys/ (owners only: a key reads every conversation
and texts callers, so it is an owner's decision like the carrier account).

A new key's secret is shown once, in the response to the POST that created it, with caching off; afterwards the
page shows only its prefix. Revoking is POST-redirect-GET."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from tenants.models import ApiKey
from tenants.permissions import OWNERS, role_required
from tenants.scoping import scope_queryset
from tenants.services_api_keys import NAME_MAX, api_key_create, api_key_revoke


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=NAME_MAX, help_text="What will use it, e.g. “Jobber sync”. Only you and other owners see it."
    )


@never_cache
@role_required(*OWNERS)
def api_keys(request, business_slug: str):
    """List the business's keys; POST creates one and shows its secret this once."""
    form = ApiKeyForm(request.POST or None)
    created = secret = None
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = api_key_create(
                business=request.business, name=form.cleaned_data["name"], created_by=request.user
            )
        except ValidationError as exc:
            form.add_error("name", exc)
        else:
            form = ApiKeyForm()
    keys = scope_queryset(ApiKey.objects.select_related("created_by"), request.business)
    return render(request, "tenants/api_keys.html", {"keys": keys, "form": form, "created": created, "secret": secret})


@role_required(*OWNERS)
@require_POST
def api_key_revoke_view(request, business_slug: str, pk: int):
    key = get_object_or_404(scope_queryset(ApiKey.objects.all(), request.business), pk=pk)
    api_key_revoke(key=key, actor=request.user)
    messages.success(request, f"Key “{key.name}” revoked: it no longer works.")
    return redirect("settings_api_keys", business_slug=business_slug)

"""Owner pages for outbound webhooks and Slack, under /app/<business_slug>/settings/webhooks/. Owners and admins
only (an endpoint receives caller data). Views translate HTTP into a call to integrations.services; every
endpoint and delivery is looked up within request.business, so another business's ids are 404."""

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from integrations.delivery import slack_text
from integrations.forms import EndpointForm
from integrations.models import WebhookDelivery, WebhookEndpoint
from integrations.services import (
    delivery_resend,
    endpoint_create,
    endpoint_delete,
    endpoint_set_active,
    send_test_event,
)
from tenants.permissions import MANAGERS, role_required

LOG_ROWS = 50
SECRET_SESSION_KEY = "webhook_secret_once"  # noqa: S105  (a session key name, not a secret)


def _endpoint(request, endpoint_id: int) -> WebhookEndpoint:
    return get_object_or_404(WebhookEndpoint, business=request.business, pk=endpoint_id)


@role_required(*MANAGERS)
@require_http_methods(["GET", "HEAD", "POST"])
def webhooks(request, business_slug: str):
    """The business's endpoints; POST adds one and shows its secret once on the endpoint's page."""
    business = request.business
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, secret = endpoint_create(business=business, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            errors = exc.error_dict if hasattr(exc, "error_dict") else {None: exc.error_list}
            for field, field_errors in errors.items():
                form.add_error(field if field in form.fields else None, field_errors)
        else:
            request.session[SECRET_SESSION_KEY] = {"id": endpoint.pk, "secret": secret}
            messages.success(request, "Endpoint added.")
            return redirect("settings_webhook", business_slug=business.slug, endpoint_id=endpoint.pk)
    endpoints = WebhookEndpoint.objects.filter(business=business).order_by("created_at")
    return render(request, "integrations/webhooks.html", {"form": form, "endpoints": endpoints})


@role_required(*MANAGERS)
@require_http_methods(["GET", "HEAD"])
def webhook(request, business_slug: str, endpoint_id: int):
    """One endpoint and its delivery log: what was sent, what the receiver answered."""
    endpoint = _endpoint(request, endpoint_id)
    shown = request.session.get(SECRET_SESSION_KEY)
    secret = ""
    if shown and shown.get("id") == endpoint.pk:
        secret = shown["secret"]
        del request.session[SECRET_SESSION_KEY]  # shown once: a reload no longer has it
    deliveries = list(
        WebhookDelivery.objects.filter(business=request.business, endpoint=endpoint).order_by("-created_at", "-pk")[
            :LOG_ROWS
        ]
    )
    slack = endpoint.kind == WebhookEndpoint.Kind.SLACK
    for delivery in deliveries:
        sent = {"text": slack_text(delivery.payload)} if slack else delivery.payload
        delivery.request_body = json.dumps(sent, indent=2)
    return render(
        request,
        "integrations/webhook.html",
        {"endpoint": endpoint, "secret": secret, "deliveries": deliveries},
    )


@role_required(*MANAGERS)
@require_POST
def webhook_active(request, business_slug: str, endpoint_id: int):
    endpoint = _endpoint(request, endpoint_id)
    active = request.POST.get("active") == "1"
    endpoint_set_active(endpoint=endpoint, active=active, actor=request.user)
    messages.success(request, "Endpoint enabled." if active else "Endpoint paused: no events are sent to it.")
    return redirect("settings_webhook", business_slug=business_slug, endpoint_id=endpoint.pk)


@role_required(*MANAGERS)
@require_POST
def webhook_delete(request, business_slug: str, endpoint_id: int):
    endpoint_delete(endpoint=_endpoint(request, endpoint_id), actor=request.user)
    messages.success(request, "Endpoint deleted.")
    return redirect("settings_webhooks", business_slug=business_slug)


@role_required(*MANAGERS)
@require_POST
def webhook_test(request, business_slug: str, endpoint_id: int):
    endpoint = _endpoint(request, endpoint_id)
    if not endpoint.active:
        messages.error(request, "Enable the endpoint before sending a test event.")
    else:
        send_test_event(endpoint=endpoint, actor=request.user)
        messages.success(request, "Test event queued; it shows in the log below within a few seconds.")
    return redirect("settings_webhook", business_slug=business_slug, endpoint_id=endpoint.pk)


@role_required(*MANAGERS)
@require_POST
def webhook_resend(request, business_slug: str, endpoint_id: int, delivery_id: int):
    endpoint = _endpoint(request, endpoint_id)
    delivery = get_object_or_404(WebhookDelivery, business=request.business, endpoint=endpoint, pk=delivery_id)
    if not endpoint.active:
        messages.error(request, "Enable the endpoint before resending.")
    else:
        delivery_resend(delivery=delivery, actor=request.user)
        messages.success(request, "Event queued again, with the same event id.")
    return redirect("settings_webhook", business_slug=business_slug, endpoint_id=endpoint.pk)

"""Staff views of endpoints and the delivery outbox (read-mostly; the secret is never shown)."""

from django.contrib import admin

from integrations.models import WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("business", "kind", "display_url", "active", "created_at")
    list_filter = ("kind", "active")
    list_select_related = ("business",)
    exclude = ("secret_encrypted", "url")
    readonly_fields = ("business", "kind", "display_url", "events", "created_at", "failure_notified_at")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "event_type",
        "event_id",
        "business",
        "endpoint",
        "status",
        "attempts",
        "response_code",
        "created_at",
    )
    list_filter = ("status", "event_type")
    list_select_related = ("business", "endpoint")
    search_fields = ("=event_id",)
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

"""The owner's webhook settings, mounted under /app/<business_slug>/."""

from django.urls import path

from integrations import views

urlpatterns = [
    path("settings/webhooks/", views.webhooks, name="settings_webhooks"),
    path("settings/webhooks/<int:endpoint_id>/", views.webhook, name="settings_webhook"),
    path("settings/webhooks/<int:endpoint_id>/active/", views.webhook_active, name="settings_webhook_active"),
    path("settings/webhooks/<int:endpoint_id>/delete/", views.webhook_delete, name="settings_webhook_delete"),
    path("settings/webhooks/<int:endpoint_id>/test/", views.webhook_test, name="settings_webhook_test"),
    path(
        "settings/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/resend/",
        views.webhook_resend,
        name="settings_webhook_resend",
    ),
]

"""API keys, included at /app/<business_slug>/settings/api-keys/."""

from django.urls import path

from tenants import views_api_keys

urlpatterns = [
    path("", views_api_keys.api_keys, name="settings_api_keys"),
    path("<int:pk>/revoke/", views_api_keys.api_key_revoke_view, name="settings_api_key_revoke"),
]

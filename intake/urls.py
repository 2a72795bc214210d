"""Intake pages for the business's team, mounted under /app/<business_slug>/."""

from django.urls import path

from intake import views_settings

urlpatterns = [
    path("settings/intake/", views_settings.intake_settings, name="settings_intake"),
    path("settings/intake/preview/", views_settings.intake_settings_preview, name="settings_intake_preview"),
]

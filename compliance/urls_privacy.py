"""Audit log, automated-messages export and privacy pages, under /app/<business_slug>/."""

from django.urls import path

from compliance import views_privacy

urlpatterns = [
    path("settings/audit/", views_privacy.audit_log, name="settings_audit"),
    path("settings/audit/export.csv", views_privacy.audit_export, name="settings_audit_export"),
    path(
        "settings/audit/messages.csv",
        views_privacy.automated_messages_export,
        name="settings_audit_messages_export",
    ),
    path("settings/privacy/", views_privacy.privacy, name="settings_privacy"),
    path("settings/privacy/erase/", views_privacy.privacy_erase, name="settings_privacy_erase"),
]

"""The owner's on-call page, mounted under /app/<business_slug>/."""

from django.urls import path

from inbox import views_on_call

urlpatterns = [
    path("settings/on-call/", views_on_call.on_call_settings, name="settings_on_call"),
    path("settings/on-call/rotation/", views_on_call.rotation_add, name="settings_on_call_rotation_add"),
    path(
        "settings/on-call/rotation/<int:user_id>/move/",
        views_on_call.rotation_move,
        name="settings_on_call_rotation_move",
    ),
    path(
        "settings/on-call/rotation/<int:user_id>/delete/",
        views_on_call.rotation_remove,
        name="settings_on_call_rotation_delete",
    ),
    path("settings/on-call/overrides/", views_on_call.override_add, name="settings_on_call_override_add"),
    path(
        "settings/on-call/overrides/<int:override_id>/delete/",
        views_on_call.override_delete,
        name="settings_on_call_override_delete",
    ),
    path("settings/on-call/test/", views_on_call.escalation_test_run, name="settings_on_call_test"),
]

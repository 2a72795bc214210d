from django.urls import include, path

from tenants import views, views_exports

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("export/conversations.csv", views_exports.export_conversations, name="export_conversations"),
    path("export/calls.csv", views_exports.export_calls, name="export_calls"),
    path("settings/", views.settings_home, name="settings"),
    path("settings/profile/", views.settings_profile, name="settings_profile"),
    path("settings/hours/", views.settings_hours, name="settings_hours"),
    path("settings/hours/holidays/", views.holiday_add, name="holiday_add"),
    path("settings/hours/holidays/<int:holiday_id>/delete/", views.holiday_delete, name="holiday_delete"),
    path("settings/team/", include("tenants.urls_team")),
    path("settings/api-keys/", include("tenants.urls_api_keys")),
]

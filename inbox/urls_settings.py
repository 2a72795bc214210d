"""The owner's inbox settings pages, mounted under /app/<business_slug>/."""

from django.urls import path

from inbox import views_settings

urlpatterns = [
    path("settings/routing/", views_settings.routing_settings, name="settings_routing"),
    path("settings/routing/territories/", views_settings.territory_add, name="settings_territory_add"),
    path(
        "settings/routing/territories/<int:territory_id>/",
        views_settings.territory_edit,
        name="settings_territory_edit",
    ),
    path(
        "settings/routing/territories/<int:territory_id>/delete/",
        views_settings.territory_remove,
        name="settings_territory_delete",
    ),
    path("settings/canned-replies/", views_settings.canned_replies, name="settings_canned_replies"),
    path(
        "settings/canned-replies/<int:reply_id>/",
        views_settings.canned_reply_edit,
        name="settings_canned_reply_edit",
    ),
    path(
        "settings/canned-replies/<int:reply_id>/delete/",
        views_settings.canned_reply_remove,
        name="settings_canned_reply_delete",
    ),
]

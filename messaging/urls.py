from django.urls import path

from messaging import views, views_media

urlpatterns = [
    path("settings/templates/", views.templates_settings, name="settings-templates"),
    path("settings/templates/preview/", views.templates_preview, name="settings-templates-preview"),
    path("media/<int:message_id>/<int:index>/", views_media.message_media, name="message_media"),
]

from django.urls import path

from messaging import views

urlpatterns = [
    path("settings/templates/", views.templates_settings, name="settings-templates"),
    path("settings/templates/preview/", views.templates_preview, name="settings-templates-preview"),
]

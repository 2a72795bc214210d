"""The owner's "Urgency & response" settings page, mounted under /app/<business_slug>/."""

from django.urls import path

from inbox import views_response

urlpatterns = [
    path("settings/response/", views_response.response_settings, name="settings_response"),
]

"""Inbox pages for the business's team, mounted under /app/<business_slug>/."""

from django.urls import path

from inbox import views

urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("conversations/<int:conversation_id>/", views.conversation, name="conversation"),
    path("intake/photos/<int:photo_id>/", views.intake_photo, name="intake_photo"),
]

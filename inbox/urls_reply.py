"""The reply composer's endpoint, mounted under /app/<business_slug>/."""

from django.urls import path

from inbox import views_reply

urlpatterns = [
    path("conversations/<int:conversation_id>/reply/", views_reply.conversation_reply, name="conversation_reply"),
]

"""The call-back endpoint, mounted under /app/<business_slug>/."""

from django.urls import path

from inbox import views_call_back

urlpatterns = [
    path(
        "conversations/<int:conversation_id>/call-back/",
        views_call_back.conversation_call_back,
        name="conversation_call_back",
    ),
]

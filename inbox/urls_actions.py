"""Operator actions on a conversation and its live refresh, mounted under /app/<business_slug>/."""

from django.urls import path

from inbox import views_actions as views

urlpatterns = [
    path("conversations/<int:conversation_id>/assign/", views.conversation_assign, name="conversation_assign"),
    path("conversations/<int:conversation_id>/status/", views.conversation_status, name="conversation_status"),
    path("conversations/<int:conversation_id>/snooze/", views.conversation_snooze, name="conversation_snooze"),
    path("conversations/<int:conversation_id>/book/", views.conversation_book, name="conversation_book"),
    path("conversations/<int:conversation_id>/lost/", views.conversation_lost, name="conversation_lost"),
    path("conversations/<int:conversation_id>/priority/", views.conversation_priority, name="conversation_priority"),
    path("conversations/<int:conversation_id>/tags/", views.conversation_tags, name="conversation_tags"),
    path("conversations/<int:conversation_id>/notes/", views.conversation_note, name="conversation_note"),
    path("conversations/<int:conversation_id>/live/", views.conversation_live, name="conversation_live"),
]

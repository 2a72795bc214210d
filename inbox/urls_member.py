"""A member's own settings, mounted under /app/<business_slug>/."""

from django.urls import path

from inbox import views_member

urlpatterns = [
    path("me/", views_member.member_settings, name="member_settings"),
]

"""The caller's intake page, mounted at /i/: the short link texted after a missed call is /i/<token>."""

from django.urls import path

from intake import views_public

urlpatterns = [
    path("<str:token>", views_public.intake_page, name="intake_page"),
    path("<str:token>/done", views_public.intake_done, name="intake_done"),
]

"""The page a paging text links to, mounted at /p/: /p/<token>/ (no login: the signed token is the proof)."""

from django.urls import path

from inbox import views_on_call

urlpatterns = [
    path("<str:token>/", views_on_call.page_ack, name="page_ack"),
]

from django.urls import path

from telephony import views

urlpatterns = [
    path("calls/", views.calls, name="calls"),
]

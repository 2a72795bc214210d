"""Telephony pages, mounted under /app/<business_slug>/."""

from django.urls import path

from telephony import views

urlpatterns = [
    path("calls/", views.calls, name="calls"),
    path("settings/numbers/", views.numbers, name="settings_numbers"),
    path("settings/numbers/add/", views.number_add, name="settings_number_add"),
    path("settings/numbers/<int:number_id>/", views.number_edit, name="settings_number_edit"),
    path("settings/numbers/<int:number_id>/delete/", views.number_remove, name="settings_number_delete"),
    path("settings/numbers/blocked/", views.blocked_add, name="settings_blocked_add"),
    path("settings/numbers/blocked/<int:blocked_id>/delete/", views.blocked_remove, name="settings_blocked_delete"),
    path("settings/carrier/", views.carrier, name="settings_carrier"),
    path("settings/carrier/delete/", views.carrier_remove, name="settings_carrier_delete"),
    path("simulator/", views.simulator, name="simulator"),
    path("simulator/calls/<int:call_id>/reply/", views.simulator_reply, name="simulator_reply"),
]

"""Carrier webhooks of a call back, mounted under /webhooks/ next to telephony.urls_webhooks."""

from django.urls import path

from telephony import webhooks_call_back

urlpatterns = [
    path("twilio/voice/call-back/", webhooks_call_back.connect, name="twilio-voice-call-back"),
    path("twilio/voice/call-back/status/", webhooks_call_back.status, name="twilio-voice-call-back-status"),
]

from django.urls import path

from telephony import webhooks

urlpatterns = [
    path("twilio/voice/", webhooks.voice, name="twilio-voice"),
    path("twilio/voice/screen/", webhooks.screen, name="twilio-voice-screen"),
    path("twilio/voice/screen/accept/", webhooks.screen_accept, name="twilio-voice-screen-accept"),
    path("twilio/voice/dial/", webhooks.dial, name="twilio-voice-dial"),
    path("twilio/voice/status/", webhooks.call_status, name="twilio-voice-status"),
    path("twilio/voice/recording/", webhooks.recording, name="twilio-voice-recording"),
    path("twilio/voice/hangup/", webhooks.hangup, name="twilio-voice-hangup"),
]

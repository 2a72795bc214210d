from django.urls import path

from messaging import webhooks

urlpatterns = [
    path("twilio/sms/", webhooks.inbound_sms, name="twilio-sms"),
    path("twilio/sms/status/", webhooks.sms_status, name="twilio-sms-status"),
]

from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from bench.bare_app import view

urlpatterns = [path("webhooks/twilio/voice/", csrf_exempt(view))]

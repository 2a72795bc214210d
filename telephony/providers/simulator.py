"""The simulator carrier: no account, no network. For development, demos and browser tests.

Calls are placed from the simulator page or `manage.py simulate_call`, which build the same typed events a Twilio
webhook would and hand them to the same services. Sent messages get a fake id and are "delivered" at once; a call
back gets a fake call id and is answered and completed at once (telephony/services_call_back.py plays that out).
"""

import secrets

from django.http import HttpRequest, HttpResponse

from telephony.providers.base import Action, InvalidSignature, PlacedCall, Provider, SendResult


class SimulatorProvider(Provider):
    code = "simulator"
    label = "Simulator (no carrier, for testing)"
    simulated_delivery = True

    def validate_request(self, request: HttpRequest) -> None:
        raise InvalidSignature("the simulator has no webhooks")

    def render(self, action: Action, **context) -> HttpResponse:
        return HttpResponse(action.value, content_type="text/plain")

    def send_message(self, *, credentials, from_, to, body, media_urls, status_callback, validity_period):
        return SendResult(provider_message_id="SM" + secrets.token_hex(16), status="sent")

    def place_call(self, *, credentials, from_, to, url, status_callback, ring_seconds):
        return PlacedCall(provider_call_id="CA" + secrets.token_hex(16), status="queued")

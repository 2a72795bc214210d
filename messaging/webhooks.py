"""Twilio messaging webhooks: inbound SMS/MMS and delivery status callbacks."""

import logging

from django.http import HttpRequest, HttpResponse
from twilio.twiml.messaging_response import MessagingResponse

from messaging import services
from telephony.providers.base import MalformedWebhook, WebhookCarrier
from telephony.webhooks import carrier_webhook

logger = logging.getLogger(__name__)


@carrier_webhook("twilio")
def inbound_sms(request: HttpRequest, provider: WebhookCarrier, number) -> HttpResponse:
    event = provider.parse_inbound_message(request)
    try:
        services.message_receive(number=number, event=event)
    except ValueError as exc:
        raise MalformedWebhook(str(exc)) from None
    return HttpResponse(str(MessagingResponse()), content_type="text/xml")


@carrier_webhook("twilio", find_number=False)
def sms_status(request: HttpRequest, provider: WebhookCarrier, number: None) -> HttpResponse:
    """Delivery status for a message we sent. The tenant comes from our message row (found by the carrier's id, or
    by our id in the callback URL for a send whose outcome we never learnt), never from the parameters."""
    event = provider.parse_message_status(request)
    hint = request.GET.get("m", "")
    if hint and not (hint.isascii() and hint.isdigit()):
        raise MalformedWebhook("m must be a message id")
    message = services.message_apply_status(
        provider_message_id=event.message_id,
        status=event.status,
        error_code=event.error_code,
        message_hint=int(hint) if hint and len(hint) < 19 else None,
        account_id=request.POST.get("AccountSid"),
    )
    if message is None:
        logger.info("status callback for a message that is not ours: %s", event.message_id)
    return HttpResponse(status=204)

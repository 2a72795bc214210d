"""Carrier webhooks. One decorator authenticates, resolves the tenant from the `To` number and turns malformed
input into 400; the views translate carrier events into service calls and render the answer."""

import logging
from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from telephony import services
from telephony.models import PhoneNumber
from telephony.providers import get_provider
from telephony.providers.base import Action, InvalidSignature, MalformedWebhook, WebhookCarrier

logger = logging.getLogger(__name__)


def callback_url(name: str, **query: str) -> str:
    """An absolute URL for a carrier callback. Query parameters are sorted by name, so the URL the carrier signs
    is the one we rebuild."""
    url = settings.PUBLIC_BASE_URL + reverse(name)
    if query:
        url += "?" + urlencode(sorted(query.items()))
    return url


def voice_urls(call_id: str) -> dict[str, str]:
    return {
        "dial": callback_url("twilio-voice-dial"),
        "screen": callback_url("twilio-voice-screen", call=call_id),
        "accept": callback_url("twilio-voice-screen-accept", call=call_id),
        "recording": callback_url("twilio-voice-recording"),
        "hangup": callback_url("twilio-voice-hangup"),
    }


def require_account(provider: WebhookCarrier, request: HttpRequest, business) -> None:
    """The signing account must be the business's own (a signature proves who sent it, not for whom)."""
    if not provider.account_may_act_for(request, business):
        raise InvalidSignature(f"account {request.POST.get('AccountSid', '')[:34]} does not own this number")


def carrier_webhook(provider_code: str, *, find_number: bool = True, to_param: str = "To") -> Callable:
    """Authenticate a carrier webhook (403 and nothing stored on a bad signature), find our number from `To`
    (unknown number: an empty valid answer and a warning), and answer 400 on malformed parameters."""

    def decorator(view):
        @csrf_exempt
        @require_POST
        @wraps(view)
        def wrapped(request: HttpRequest) -> HttpResponse:
            provider = get_provider(provider_code)
            try:
                provider.validate_request(request)
            except InvalidSignature as exc:
                logger.warning("rejected %s webhook %s: %s", provider_code, request.path, exc)
                return HttpResponse("Forbidden: bad signature.", status=403, content_type="text/plain")
            number = None
            if find_number:
                number = services.number_for(request.POST.get(to_param, ""), provider=provider_code)
                if number is None:
                    logger.warning("%s webhook %s for a number we do not own", provider_code, request.path)
                    return provider.render(Action.NOTHING)
            try:
                if number is not None:
                    require_account(provider, request, number.business)
                return view(request, provider, number)
            except InvalidSignature as exc:
                logger.warning("rejected %s webhook %s: %s", provider_code, request.path, exc)
                return HttpResponse("Forbidden: wrong account.", status=403, content_type="text/plain")
            except MalformedWebhook as exc:
                logger.warning("malformed %s webhook %s: %s", provider_code, request.path, exc)
                return HttpResponse(f"Bad request: {exc}.", status=400, content_type="text/plain")

        return wrapped

    return decorator


@carrier_webhook("twilio")
def voice(request: HttpRequest, provider: WebhookCarrier, number: PhoneNumber) -> HttpResponse:
    event = provider.parse_incoming_call(request)
    call, action = services.call_incoming(number=number, event=event)
    return provider.render(action, number=number, urls=voice_urls(call.provider_call_id), business=number.business)


def _parent_call_id(request: HttpRequest) -> str:
    call_id = request.GET.get("call", "")
    if not call_id.startswith("CA") or len(call_id) != 34:
        raise MalformedWebhook("call is missing from the callback URL")
    return call_id


@carrier_webhook("twilio", find_number=False)
def screen(request: HttpRequest, provider: WebhookCarrier, number: None) -> HttpResponse:
    """Runs on the answered leg, whose To is the business's own phone: the tenant comes from the caller's call
    (named in the callback URL we built), never from the request's parameters."""
    call = services.ringing_call(provider=provider.code, call_id=_parent_call_id(request))
    if call is None:
        return provider.render(Action.HANGUP)
    require_account(provider, request, call.business)
    return provider.render(Action.SCREEN, urls=voice_urls(call.provider_call_id), business=call.business)


@carrier_webhook("twilio", find_number=False)
def screen_accept(request: HttpRequest, provider: WebhookCarrier, number: None) -> HttpResponse:
    call = services.ringing_call(provider=provider.code, call_id=_parent_call_id(request))
    if call is not None:
        require_account(provider, request, call.business)
    action = services.call_screen_accept(
        provider=provider.code, call_id=_parent_call_id(request), digits=request.POST.get("Digits", "")[:10]
    )
    return provider.render(action)


@carrier_webhook("twilio")
def dial(request: HttpRequest, provider: WebhookCarrier, number: PhoneNumber) -> HttpResponse:
    event = provider.parse_dial_result(request)
    call, action = services.call_dial_result(number=number, event=event)
    return provider.render(action, number=number, urls=voice_urls(call.provider_call_id), business=number.business)


@carrier_webhook("twilio")
def call_status(request: HttpRequest, provider: WebhookCarrier, number: PhoneNumber) -> HttpResponse:
    services.call_status_changed(number=number, event=provider.parse_call_status(request))
    return HttpResponse(status=204)


@carrier_webhook("twilio", find_number=False)
def recording(request: HttpRequest, provider: WebhookCarrier, number: None) -> HttpResponse:
    """Twilio's recording status callback carries no `To`: the call it belongs to names our business (and so the
    account whose signature it must carry)."""
    event = provider.parse_recording(request)
    call = services.call_of(provider=provider.code, call_id=event.call_id)
    if call is None:
        logger.warning("twilio recording %s for a call we do not know", event.recording_id)
        return HttpResponse(status=204)
    require_account(provider, request, call.business)
    services.call_recording_ready(call=call, event=event)
    return HttpResponse(status=204)


@carrier_webhook("twilio", find_number=False)
def hangup(request: HttpRequest, provider: WebhookCarrier, number: None) -> HttpResponse:
    """After the voicemail <Record> finishes."""
    return provider.render(Action.HANGUP)

"""Carrier webhooks of a call back (telephony/services_call_back.py): the instructions the carrier fetches when
the member answers their phone, and the progress of that call. Both find the call from the callback URL we built
(`?call=<id>`) and require the signing account to be that call's business's, like every webhook here."""

from django.http import HttpRequest, HttpResponse

from telephony import services_call_back
from telephony.providers.base import Action, WebhookCarrier
from telephony.webhooks import carrier_webhook, require_account


def _call_back(request: HttpRequest, provider: WebhookCarrier):
    call = services_call_back.call_back_for_webhook(provider=provider.code, call_ref=request.GET.get("call", ""))
    if call is not None:
        require_account(provider, request, call.business)
    return call


@carrier_webhook("twilio", find_number=False)
def connect(request: HttpRequest, provider: WebhookCarrier, number: None) -> HttpResponse:
    """The member answered: say who they are being connected to, then dial the caller from the business number.
    A call back that has ended (or is not ours) is hung up, never connected."""
    call = _call_back(request, provider)
    event = provider.parse_call_status(request)
    if call is None or not services_call_back.call_back_is_live(call, event.call_id):
        return provider.render(Action.HANGUP)
    return provider.render(Action.CONNECT_CALLER, **services_call_back.connect_context(call))


@carrier_webhook("twilio", find_number=False)
def status(request: HttpRequest, provider: WebhookCarrier, number: None) -> HttpResponse:
    """Progress of the member's leg (ringing, answered, how it ended). Forward only; replays change nothing."""
    call = _call_back(request, provider)
    if call is not None:
        services_call_back.call_back_status_changed(call=call, event=provider.parse_call_status(request))
    return HttpResponse(status=204)

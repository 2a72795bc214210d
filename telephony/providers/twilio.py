"""Twilio, through the official `twilio` package (RequestValidator for webhooks, Client for sending and calling)."""

import contextlib
import logging
import os
import re
import threading

import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from secdesk.crypto import InvalidToken
from secdesk.ttl import TTLCache
from telephony.providers.base import (
    Action,
    CallStatusEvent,
    Credentials,
    DialResult,
    InboundMessage,
    IncomingCall,
    InvalidSignature,
    LookupUnclear,
    MalformedWebhook,
    MessageStatusEvent,
    PlacedCall,
    RecordingEvent,
    SendError,
    SendResult,
    WebhookCarrier,
)

logger = logging.getLogger(__name__)

CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")
MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")
RECORDING_SID = re.compile(r"^RE[0-9a-fA-F]{32}$")
ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
MAX_BODY = 5000  # Twilio sends at most 1,600 characters; anything far beyond is not Twilio

# Errors after which resending the same text can never succeed (CARRIER-NOTES.md).
PERMANENT_CODES = {"21610", "21211", "21612", "21614", "21608", "30004", "30005", "30006", "30007", "30034"}
RETRYABLE_CODES = {"20429", "30001"}
API_BASE = "https://api.twilio.com"
# Every step of a call we place, so its row follows the call (ringing, answered, then how it ended).
CALL_PROGRESS_EVENTS = ["initiated", "ringing", "answered", "completed"]


def _read_environment_once(session: requests.Session, url: str) -> None:
    """requests reads proxy and CA-bundle settings from the environment again on every request (a walk over
    os.environ: about a tenth of a send's CPU). This client talks to one host, so read them once, the way requests
    would for that host, and pin them on the session."""
    session.proxies.update(requests.utils.get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False


class RebasedHttpClient(TwilioHttpClient):
    """The real twilio HTTP client, pointed at settings.TWILIO_API_BASE_URL (a local fake in tests and benches).
    One pooled requests.Session per client keeps the connection to the carrier warm. The timeout is a
    (connect, read) pair, which requests understands but the twilio base class does not validate."""

    def __init__(self, *, timeout: tuple[float, float], **kwargs):
        super().__init__(**kwargs)
        self.timeout = timeout
        _read_environment_once(self.session, settings.TWILIO_API_BASE_URL)  # pool_connections: always a session

    def request(self, method, url, *args, **kwargs):
        base = settings.TWILIO_API_BASE_URL
        if base != API_BASE and url.startswith(API_BASE):
            url = base + url[len(API_BASE) :]
        return super().request(method, url, *args, **kwargs)


_clients = threading.local()


def _client(credentials: Credentials) -> Client:
    cache = getattr(_clients, "by_account", None)
    if cache is None:
        cache = _clients.by_account = {}
    key = (credentials.account_id, credentials.secret, settings.TWILIO_API_BASE_URL, settings.TWILIO_TIMEOUT)
    if key not in cache:
        http = RebasedHttpClient(pool_connections=True, timeout=settings.TWILIO_TIMEOUT)
        cache[key] = Client(credentials.account_id, credentials.secret, http_client=http)
    return cache[key]


def _never_sent(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the connection failed before any byte of the request reached the carrier."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3 MaxRetryError wraps the cause
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


@contextlib.contextmanager
def _carrier_errors(refused: str):
    """Turn what the twilio client raises into SendError: refusals are permanent unless Twilio says to retry
    (429, 5xx, 20429/30001); a connection that failed before the request left is retryable; one that broke
    after it left, or a read timeout, is ambiguous (Twilio may have acted on it)."""
    try:
        yield
    except TwilioRestException as exc:
        code = str(exc.code or "")
        retryable = exc.status == 429 or exc.status >= 500 or code in RETRYABLE_CODES
        raise SendError(
            exc.msg or refused, code=code, http_status=exc.status, permanent=not retryable, retryable=retryable
        ) from None
    except requests.exceptions.ConnectionError as exc:
        if _never_sent(exc):
            raise SendError("Could not reach Twilio.", code="connect", retryable=True) from None
        # The connection broke after the request went out: as ambiguous as a timeout.
        raise SendError("The connection to Twilio broke.", code="connection_lost", ambiguous=True) from None
    except requests.exceptions.ReadTimeout:
        # The request was sent; Twilio may have accepted it. Resending could text (or ring) twice.
        raise SendError("Twilio did not answer in time.", code="timeout", ambiguous=True) from None


def _clean(value: str) -> str:
    """PostgreSQL text cannot hold NUL; no carrier sends one, so it is dropped rather than failing the request."""
    return value.replace("\x00", "")


def _required(request: HttpRequest, name: str, pattern: re.Pattern | None = None) -> str:
    value = _clean(request.POST.get(name, ""))
    if not value or (pattern and not pattern.match(value)):
        raise MalformedWebhook(f"{name} is missing or malformed")
    return value


def _int(request: HttpRequest, name: str) -> int | None:
    value = request.POST.get(name, "")
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise MalformedWebhook(f"{name} is not a number")
    return int(value)


def _text(request: HttpRequest, name: str, limit: int = 120) -> str:
    return _clean(request.POST.get(name, ""))[:limit]


_tokens = TTLCache("TELEPHONY_CONFIG_CACHE_SECONDS")


def token_for_account(account_sid: str) -> str | None:
    """The auth token that signs webhooks for `account_sid`: a business's own account, else the platform's.
    Cached per process for a couple of seconds (a rotated token is picked up that much later)."""
    return _tokens.get(account_sid, lambda: _load_token(account_sid))


def _load_token(account_sid: str) -> str | None:
    from telephony.models import CarrierCredential

    credential = CarrierCredential.objects.filter(provider="twilio", account_sid=account_sid).first()
    if credential is not None:
        try:
            return credential.auth_token
        except InvalidToken:
            logger.error("the stored auth token of account %s cannot be decrypted (was the key rotated?)", account_sid)
            return None
    if settings.TWILIO_ACCOUNT_SID and account_sid == settings.TWILIO_ACCOUNT_SID:
        return settings.TWILIO_AUTH_TOKEN
    return None


class TwilioProvider(WebhookCarrier):
    code = "twilio"
    label = "Twilio"
    redact_keys = ("X-Twilio-Signature", "AuthToken", "Authorization")

    def validate_request(self, request: HttpRequest) -> None:
        signature = request.headers.get("X-Twilio-Signature", "")
        account_sid = request.POST.get("AccountSid", "")
        if not signature or not ACCOUNT_SID.match(account_sid):
            raise InvalidSignature("missing signature or AccountSid")
        token = token_for_account(account_sid)
        if not token:
            raise InvalidSignature("unknown account")
        # Rebuilt from PUBLIC_BASE_URL: behind a proxy, request.build_absolute_uri() would not be what Twilio signed.
        url = settings.PUBLIC_BASE_URL + request.get_full_path()
        if not RequestValidator(token).validate(url, request.POST, signature):
            raise InvalidSignature("signature mismatch")

    def account_may_act_for(self, request: HttpRequest, business) -> bool:
        """Whether the (already verified) signing account is the one behind `business`'s numbers: its own Twilio
        account, or the platform account when it has none. Without this, any tenant with a Twilio account could
        sign webhooks that name another tenant's number."""
        account_sid = request.POST.get("AccountSid", "")
        own = [c.account_sid for c in business.carrier_credentials.all() if c.provider == self.code]
        if own:
            return account_sid in own
        return bool(settings.TWILIO_ACCOUNT_SID) and account_sid == settings.TWILIO_ACCOUNT_SID

    def parse_incoming_call(self, request: HttpRequest) -> IncomingCall:
        return IncomingCall(
            call_id=_required(request, "CallSid", CALL_SID),
            to=_required(request, "To"),
            from_raw=_text(request, "From", 64),
            caller_name=_text(request, "CallerName"),
            caller_city=_text(request, "FromCity", 80),
            caller_state=_text(request, "FromState", 20),
            caller_zip=_text(request, "FromZip", 12),
            stir_verstat=_text(request, "StirVerstat", 40),
        )

    def parse_dial_result(self, request: HttpRequest) -> DialResult:
        return DialResult(
            call_id=_required(request, "CallSid", CALL_SID),
            dial_status=_required(request, "DialCallStatus"),
            to=_required(request, "To"),
            from_raw=_text(request, "From", 64),
            duration=_int(request, "DialCallDuration"),
        )

    def parse_call_status(self, request: HttpRequest) -> CallStatusEvent:
        return CallStatusEvent(
            call_id=_required(request, "CallSid", CALL_SID),
            status=_required(request, "CallStatus"),
            to=_required(request, "To"),
            from_raw=_text(request, "From", 64),
            duration=_int(request, "CallDuration"),
        )

    def parse_recording(self, request: HttpRequest) -> RecordingEvent:
        url = _required(request, "RecordingUrl")
        if not url.startswith("https://") or len(url) > 500:
            raise MalformedWebhook("RecordingUrl is not an https URL")
        return RecordingEvent(
            call_id=_required(request, "CallSid", CALL_SID),
            recording_id=_required(request, "RecordingSid", RECORDING_SID),
            url=url,
            status=_text(request, "RecordingStatus", 20) or "completed",
            duration=_int(request, "RecordingDuration"),
        )

    def parse_inbound_message(self, request: HttpRequest) -> InboundMessage:
        body = _clean(request.POST.get("Body", ""))
        if len(body) > MAX_BODY:
            raise MalformedWebhook("Body is too long")
        count = _int(request, "NumMedia") or 0
        if count > 10:
            raise MalformedWebhook("NumMedia is out of range")
        media = []
        for i in range(count):
            url = _clean(request.POST.get(f"MediaUrl{i}", ""))
            if not url.startswith(("https://", "http://")) or len(url) > 500:
                raise MalformedWebhook(f"MediaUrl{i} is not a URL")
            media.append((url, _text(request, f"MediaContentType{i}", 100) or "application/octet-stream"))
        return InboundMessage(
            message_id=_required(request, "MessageSid", MESSAGE_SID),
            to=_required(request, "To"),
            from_raw=_required(request, "From")[:64],
            body=body,
            media=tuple(media),
            opt_out_type=_text(request, "OptOutType", 10).upper(),
        )

    def parse_message_status(self, request: HttpRequest) -> MessageStatusEvent:
        sid = request.POST.get("MessageSid") or request.POST.get("SmsSid", "")
        if not MESSAGE_SID.match(sid):
            raise MalformedWebhook("MessageSid is missing or malformed")
        return MessageStatusEvent(
            message_id=sid,
            status=_required(request, "MessageStatus").lower()[:20],
            error_code=_text(request, "ErrorCode", 10),
        )

    def render(self, action: Action, **context) -> HttpResponse:
        response = VoiceResponse()
        if action is Action.RING:
            number, urls = context["number"], context["urls"]
            dial = Dial(timeout=number.ring_timeout, answer_on_bridge=True, action=urls["dial"], method="POST")
            if number.screening:
                dial.number(number.forward_to, url=urls["screen"], method="POST")
            else:
                dial.number(number.forward_to)
            response.append(dial)
        elif action is Action.VOICEMAIL:
            number, urls = context["number"], context["urls"]
            response.say(number.greeting())
            response.record(
                max_length=120,
                play_beep=True,
                recording_status_callback=urls["recording"],
                recording_status_callback_method="POST",
                action=urls["hangup"],
                method="POST",
            )
        elif action is Action.SCREEN:
            gather = Gather(num_digits=1, timeout=6, action=context["urls"]["accept"], method="POST")
            gather.say(f"Call for {context['business'].sender_name}. Press 1 to connect.")
            response.append(gather)
            response.hangup()
        elif action is Action.CONNECT_CALLER:
            # The operator answered our call to their phone: tell them who, then ring the caller, who sees the
            # business's number (never the operator's own).
            response.say(f"Connecting you to {context['caller_label']}.")
            dial = Dial(caller_id=context["business_number"], timeout=context["ring_seconds"])
            dial.number(context["caller"])
            response.append(dial)
        elif action is Action.HANGUP:
            response.hangup()
        # BRIDGE and NOTHING: an empty <Response/> (for a screened leg, that connects the call)
        return HttpResponse(str(response), content_type="text/xml")

    def send_message(self, *, credentials, from_, to, body, media_urls, status_callback, validity_period):
        if credentials is None:
            raise SendError("No Twilio account is configured for this number.", code="no_credentials", permanent=True)
        params = {"to": to, "from_": from_, "body": body, "status_callback": status_callback}
        if media_urls:
            params["media_url"] = media_urls
        if validity_period:
            params["validity_period"] = validity_period
        with _carrier_errors("Twilio refused the message."):
            message = _client(credentials).messages.create(**params)
        return SendResult(provider_message_id=message.sid, status=message.status or "queued")

    def place_call(self, *, credentials, from_, to, url, status_callback, ring_seconds):
        if credentials is None:
            raise SendError("No Twilio account is configured for this number.", code="no_credentials", permanent=True)
        with _carrier_errors("Twilio refused the call."):
            call = _client(credentials).calls.create(
                to=to,
                from_=from_,
                url=url,
                method="POST",
                status_callback=status_callback,
                status_callback_method="POST",
                status_callback_event=CALL_PROGRESS_EVENTS,
                timeout=ring_seconds,
            )
        return PlacedCall(provider_call_id=call.sid, status=call.status or "queued")

    def lookup_message(self, *, credentials: Credentials, to: str, from_: str, body: str, since) -> SendResult | None:
        """Find a message we may have sent, to reconcile an ambiguous send. Lists by To and From without a date
        filter (a message still queued at Twilio has no DateSent yet) and takes one created after `since` whose
        body matches once whitespace is normalised (Smart Encoding may rewrite characters: if exactly one message
        was created in the window, that is it). None when Twilio lists no message in the window at all; raises
        LookupUnclear when it lists several and none matches (absence is then no proof it never left)."""
        candidates = [
            m
            for m in _client(credentials).messages.list(to=to, from_=from_, limit=50)
            if (m.date_created or m.date_sent) is None or (m.date_created or m.date_sent) >= since
        ]
        wanted = " ".join(body.split())
        for message in candidates:
            if " ".join((message.body or "").split()) == wanted:
                return SendResult(provider_message_id=message.sid, status=message.status or "sent")
        if len(candidates) == 1:
            return SendResult(provider_message_id=candidates[0].sid, status=candidates[0].status or "sent")
        if candidates:
            raise LookupUnclear(f"{len(candidates)} messages in the window, none with this body")
        return None

"""The carrier interface: a second carrier is one new module implementing `Provider`.

Carriers speak their own parameter names; providers turn them into these typed events, and the handling code in
telephony/services.py and messaging/services.py only ever sees the events.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import Enum

from django.http import HttpRequest, HttpResponse


class InvalidSignature(Exception):
    """The request is not from the carrier (bad, missing or foreign signature)."""


class MalformedWebhook(ValueError):
    """A required parameter is missing or has the wrong shape."""


@dataclass(frozen=True)
class IncomingCall:
    call_id: str
    to: str  # E.164 of our number
    from_raw: str  # as sent; may be "anonymous", "restricted" or empty
    caller_name: str = ""
    caller_city: str = ""
    caller_state: str = ""
    caller_zip: str = ""
    stir_verstat: str = ""


@dataclass(frozen=True)
class DialResult:
    call_id: str  # the caller's (parent) call
    dial_status: str  # completed | answered | busy | no-answer | failed | canceled
    to: str
    from_raw: str = ""
    duration: int | None = None


@dataclass(frozen=True)
class CallStatusEvent:
    call_id: str
    status: str  # queued | ringing | in-progress | completed | busy | failed | no-answer | canceled
    to: str
    from_raw: str = ""
    duration: int | None = None


@dataclass(frozen=True)
class RecordingEvent:
    call_id: str
    recording_id: str
    url: str
    status: str
    duration: int | None = None


@dataclass(frozen=True)
class InboundMessage:
    message_id: str
    to: str
    from_raw: str
    body: str
    media: tuple[tuple[str, str], ...] = ()  # (url, content type)
    opt_out_type: str = ""  # set when the carrier itself handled STOP/START/HELP


@dataclass(frozen=True)
class MessageStatusEvent:
    message_id: str
    status: str
    error_code: str = ""


class Action(Enum):
    """What to do with a live call; each provider renders it in its own markup."""

    RING = "ring"  # ring the business's phone (screened if the number says so)
    VOICEMAIL = "voicemail"  # greeting, then record a message
    HANGUP = "hangup"
    SCREEN = "screen"  # on the answered leg: "press 1 to connect"
    BRIDGE = "bridge"  # connect the screened leg
    CONNECT_CALLER = "connect_caller"  # call back: the operator answered; dial the caller from the business number
    NOTHING = "nothing"  # an empty answer


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    status: str  # carrier's word: queued, accepted, sent...


@dataclass(frozen=True)
class PlacedCall:
    provider_call_id: str
    status: str  # carrier's word: queued, initiated...


@dataclass
class SendError(Exception):
    """A send (a message, or a call we place) that failed. `ambiguous` means the carrier may have accepted it:
    never resend blindly."""

    message: str
    code: str = ""
    http_status: int | None = None
    permanent: bool = False
    retryable: bool = False
    ambiguous: bool = False
    extra: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code or self.http_status}: {self.message}"


class LookupUnclear(Exception):
    """A message lookup found messages in the window but none that is clearly ours: neither sent nor absent."""


@dataclass(frozen=True)
class Credentials:
    account_id: str
    secret: str


class Provider(ABC):
    """One carrier: what every provider does, including the simulator. Stateless; instances are cached per
    process."""

    code: str = ""
    label: str = ""
    # request keys never written to logs
    redact_keys: tuple[str, ...] = ()

    @abstractmethod
    def validate_request(self, request: HttpRequest) -> None:
        """Raise InvalidSignature unless the request provably comes from the carrier."""

    @abstractmethod
    def render(self, action: Action, **context) -> HttpResponse:
        """Answer a call webhook with `action` (context: number, call, urls)."""

    @abstractmethod
    def send_message(
        self,
        *,
        credentials: Credentials | None,
        from_: str,
        to: str,
        body: str,
        media_urls: list[str],
        status_callback: str,
        validity_period: int | None,
    ) -> SendResult:
        """Hand a message to the carrier. Raises SendError; never retries on its own."""

    @abstractmethod
    def place_call(
        self,
        *,
        credentials: Credentials | None,
        from_: str,
        to: str,
        url: str,
        status_callback: str,
        ring_seconds: int,
    ) -> PlacedCall:
        """Ring `to` with `from_` as caller id for at most `ring_seconds`. Once answered, the carrier asks `url`
        what to do (rendered from Action.CONNECT_CALLER) and reports progress (ringing, answered, completed or
        why not) to `status_callback`. Raises SendError; never retries on its own (a retry could ring twice)."""


class WebhookCarrier(Provider):
    """A real carrier that calls our webhooks: it also turns its requests into our typed events. (The simulator
    has no webhooks: it builds the events itself.)"""

    @abstractmethod
    def account_may_act_for(self, request: HttpRequest, business) -> bool:
        """Whether the carrier account that signed `request` is the one behind `business`."""

    @abstractmethod
    def parse_incoming_call(self, request: HttpRequest) -> IncomingCall: ...

    @abstractmethod
    def parse_dial_result(self, request: HttpRequest) -> DialResult: ...

    @abstractmethod
    def parse_call_status(self, request: HttpRequest) -> CallStatusEvent: ...

    @abstractmethod
    def parse_recording(self, request: HttpRequest) -> RecordingEvent: ...

    @abstractmethod
    def parse_inbound_message(self, request: HttpRequest) -> InboundMessage: ...

    @abstractmethod
    def parse_message_status(self, request: HttpRequest) -> MessageStatusEvent: ...

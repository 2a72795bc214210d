"""Place a pretend call to a simulator number, or text it as the caller, through the very same handling code
Twilio's webhooks drive.

Each step of a call below is what a Twilio webhook view does with the event it parsed: `call_incoming` (the voice
webhook), `call_screen_accept` (the owner pressed 1), `call_dial_result` (the <Dial action>), `call_status_changed`
(the status callback). Every step is its own transaction, as separate webhook requests would be, so the
text-back's on-commit enqueue fires exactly as it does in production. A reply is what the SMS webhook does:
`message_receive` with the parsed InboundMessage.
"""

import secrets

import phonenumbers

from messaging.models import Message
from secdesk.phone import InvalidPhoneNumber, to_e164
from telephony import services
from telephony.models import Call, PhoneNumber
from telephony.providers.base import Action, CallStatusEvent, DialResult, InboundMessage, IncomingCall

SIMULATOR = "simulator"
OUTCOMES = {
    "no-answer": "Nobody answers",
    "busy": "Your phone is busy",
    "voicemail": "Your voicemail picks up",
    "answered": "You answer and press 1",
    "caller-hangup": "The caller hangs up while it rings",
}
# What the carrier reports for each outcome once the business's phone stops ringing.
DIAL_STATUS = {"no-answer": "no-answer", "busy": "busy", "voicemail": "completed", "answered": "completed"}
# Caller ids a carrier sends for withheld numbers: accepted so an owner can see how they are handled.
WITHHELD = ("anonymous", "restricted")
ANSWERED_SECONDS = 42
# Twilio refuses longer message bodies; a simulated text must not be something a carrier could never deliver.
MAX_TEXT_CHARS = 1600


class SimulationError(ValueError):
    """The simulated call cannot be placed (a message safe to show a person)."""


def new_call_id() -> str:
    return "CA" + secrets.token_hex(16)


def new_message_id() -> str:
    return "SM" + secrets.token_hex(16)


def random_caller() -> str:
    """A plausible US mobile number (+1 415 2xx xxxx) that `phonenumbers` accepts as valid."""
    while True:
        candidate = f"+14152{secrets.randbelow(10**6):06d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(candidate)):
            return candidate


def normalise_caller(raw: str) -> str:
    """E.164 for a real caller number; "anonymous"/"restricted" pass through as a carrier would send them."""
    text = (raw or "").strip()
    if text.lower() in WITHHELD:
        return text.lower()
    try:
        return to_e164(text)
    except InvalidPhoneNumber as exc:
        raise SimulationError(str(exc)) from None


def simulate_call(*, number: PhoneNumber, caller: str, outcome: str) -> Call:
    """Place one call from `caller` to `number` (a simulator number) and play out `outcome`.

    Ring mode while open: the business's phone "rings" and the outcome decides what happens. Forwarded mode,
    closed hours or a number with nothing to ring: the incoming call alone is missed, whatever the outcome.
    Returns the Call as committed. Not idempotent by design: every simulation is a new call (a fresh call id),
    so a second missed call from the same caller exercises the repeat-caller rule.
    """
    if outcome not in OUTCOMES:
        raise SimulationError(f"Unknown outcome {outcome!r}: use one of {', '.join(OUTCOMES)}.")
    if number.provider != SIMULATOR:
        # A simulated call to a real carrier number would text a real person from a real account.
        raise SimulationError(f"{number.e164} is a {number.provider} number; only simulator numbers can be called.")
    from_raw = normalise_caller(caller)
    call_id = new_call_id()
    to = number.e164

    call, action = services.call_incoming(number=number, event=IncomingCall(call_id=call_id, to=to, from_raw=from_raw))
    if action is Action.RING:
        if outcome == "caller-hangup":
            services.call_status_changed(
                number=number, event=CallStatusEvent(call_id=call_id, status="completed", to=to, from_raw=from_raw)
            )
        else:
            if outcome == "answered":
                services.call_screen_accept(provider=number.provider, call_id=call_id, digits="1")
            duration = ANSWERED_SECONDS if outcome == "answered" else None
            services.call_dial_result(
                number=number,
                event=DialResult(
                    call_id=call_id, dial_status=DIAL_STATUS[outcome], to=to, from_raw=from_raw, duration=duration
                ),
            )
    if outcome != "caller-hangup" or action is not Action.RING:
        # The caller's leg ends; Twilio's status callback follows every call, and only fills in the end time here.
        services.call_status_changed(
            number=number, event=CallStatusEvent(call_id=call_id, status="completed", to=to, from_raw=from_raw)
        )
    return Call.objects.select_related("phone_number", "business", "contact", "conversation").get(pk=call.pk)


def simulate_reply(*, number: PhoneNumber, caller: str, body: str) -> Message:
    """The caller texts `body` to `number` (a simulator number): the event Twilio's SMS webhook would parse, handed
    to the same `message_receive`, so it lands in the caller's open conversation (reopened or created) exactly as
    a real reply would. Every reply is a new message (a fresh message id). Raises SimulationError for a number
    that is not a simulator number, a caller that is not a valid phone number (a withheld number cannot text),
    and an empty or over-long body; nothing is written then. Returns the stored inbound Message."""
    from messaging.services import message_receive

    if number.provider != SIMULATOR:
        raise SimulationError(f"{number.e164} is a {number.provider} number; only simulator numbers can be texted.")
    try:
        from_raw = to_e164(caller)
    except InvalidPhoneNumber as exc:
        raise SimulationError(str(exc)) from None
    if not body.strip():
        raise SimulationError("Type the caller's text.")
    if len(body) > MAX_TEXT_CHARS:
        raise SimulationError(f"A text can be at most {MAX_TEXT_CHARS:,} characters; this one has {len(body):,}.")
    event = InboundMessage(message_id=new_message_id(), to=number.e164, from_raw=from_raw, body=body)
    message, _created = message_receive(number=number, event=event)
    return message

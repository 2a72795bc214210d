"""Call back: ring a team member's own phone and, once they answer, connect them to the caller with the business
number as caller id, so the caller sees the number they dialled and never the member's private one.

One tap runs three steps, so no transaction stays open while the carrier is asked:
1. `call_back_start` (one transaction, conversation locked): the checks, the double-tap guard and the Call row
   (direction "outbound", status "ringing"), so every attempt is on record before the carrier hears of it.
2. The provider places the call (Twilio: one REST request; the simulator answers at once). This runs inside the
   member's request, not in a task, on purpose: they tapped and are waiting for their phone, so a refusal must
   reach them now, in words. TWILIO_TIMEOUT bounds the wait.
3. `_call_back_placed` (one transaction): the carrier's call id, the first human response, the timeline event,
   the audit entry and the live-page bump; or `_call_back_failed`: the reason on the row, in plain words.
The carrier's status callbacks then move the row forward only (`call_back_status_changed`).
"""

import datetime as dt
import logging
import uuid

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from compliance.services import audit
from inbox import live
from inbox.actions import human_acted
from inbox.models import Contact, Conversation, ConversationEvent
from messaging.errors import PLAIN as MESSAGING_ERRORS
from messaging.sending import credentials_for
from secdesk.phone import pretty, to_e164_or_blank
from telephony.models import Call, PhoneNumber
from telephony.providers import get_provider
from telephony.providers.base import CallStatusEvent, MalformedWebhook, SendError
from telephony.simulation import ANSWERED_SECONDS
from telephony.webhooks import callback_url

logger = logging.getLogger(__name__)

Status = Call.Status

# A second tap on the same conversation while its call back still rings is the same request, not a new call.
DOUBLE_TAP_SECONDS = 30
# The member's phone rings at most this long (Twilio may add ~5 s): a cell phone's own voicemail answers after
# ~20-25 s, and a voicemail that answered would be connected to the caller.
OPERATOR_RING_SECONDS = 15
# Then the caller's phone rings at most this long.
CALLER_RING_SECONDS = 30
# provider_call_id of a row whose carrier id is not known yet (unique, and never a carrier's id).
PENDING_PREFIX = "pending:"

# Carrier errors in the member's words. Our request rings the member's phone (`To`) from the business number
# (`From`); the caller is only dialled once the member answers, so these are about the member's phone or the
# business's account.
CALL_ERRORS = {
    "20003": "Twilio did not accept this business's account credentials. An owner can check them in Settings.",
    "20429": "Twilio is busy right now. Try again in a few seconds.",
    "21210": "Twilio will not show the business number as caller id: it is not a number of this Twilio account.",
    "21211": "Your phone number in My settings is not a number Twilio can call.",
    "21212": "The business number cannot be used as caller id (Twilio says it is not valid).",
    "21214": "Twilio cannot reach your phone number right now.",
    "21215": "This Twilio account is not allowed to call your phone's country (its geographic permissions).",
    "21216": "Twilio does not allow calls to your phone number from this account.",
    "21217": "Your phone number in My settings is not a number Twilio can call.",
    "21219": "This Twilio trial account can only call numbers verified in Twilio. Verify your phone there first.",
    "no_credentials": MESSAGING_ERRORS["no_credentials"],
    "bad_creds": MESSAGING_ERRORS["bad_creds"],
    "connect": "Could not reach Twilio. Try again in a few seconds.",
    "timeout": "Twilio did not confirm the call. If your phone rings in the next few seconds, answer it; "
    "if not, try again in a minute.",
    "connection_lost": "The connection to Twilio broke while placing the call. If your phone rings in the next few "
    "seconds, answer it; if not, try again in a minute.",
}

# CallStatus of the member's leg -> (rank, our status). A status is applied only when it ranks above the row's.
PROGRESS = {
    "queued": (0, Status.RINGING),
    "initiated": (0, Status.RINGING),
    "ringing": (0, Status.RINGING),
    "in-progress": (1, Status.ANSWERED),
    "answered": (1, Status.ANSWERED),
    "completed": (2, Status.COMPLETED),
    "busy": (2, Status.BUSY),
    "no-answer": (2, Status.NO_ANSWER),
    "canceled": (2, Status.NO_ANSWER),
    "failed": (2, Status.FAILED),
}
RANK = {status: rank for rank, status in PROGRESS.values()}


def plain_call_error(error: SendError) -> str:
    """What a member reads when the carrier would not place their call back."""
    if error.code in CALL_ERRORS:
        return CALL_ERRORS[error.code]
    if error.retryable:
        return "Twilio had a problem placing the call. Try again in a few seconds."
    if error.code:
        return f"The carrier refused the call (error {error.code})."
    return "The carrier refused the call."


def call_back(*, conversation: Conversation, user) -> Call:
    """Ring `user`'s own phone and connect them to the conversation's caller. Returns the Call (status "ringing",
    or further along with the simulator, which answers and completes it at once). Raises ValidationError with a
    message for the member, writing nothing, when they have no usable phone number, the conversation has no
    business number or the caller's number is withheld, or a teammate's call back to this caller is ringing;
    raises it after recording the failure on the row when the carrier refuses. A second tap by the same member
    while their call back still rings returns that call without placing another. Not idempotent beyond that:
    every later tap is a new call. Runs its own transactions: call it outside one."""
    call, started = call_back_start(conversation=conversation, user=user)
    if not started:
        return call
    provider = get_provider(call.provider)
    try:
        placed = provider.place_call(
            credentials=credentials_for(call),  # the account messaging sends use (it reads provider, business_id)
            from_=call.phone_number.e164,
            to=call.operator_number,
            url=callback_url("twilio-voice-call-back", call=str(call.pk)),
            status_callback=callback_url("twilio-voice-call-back-status", call=str(call.pk)),
            ring_seconds=OPERATOR_RING_SECONDS,
        )
    except SendError as error:
        raise ValidationError(_call_back_failed(call=call, error=error), code="carrier") from None
    except Exception:
        # A bug or an unexpected client error: the request may have left, so it is treated like a timeout.
        logger.exception("unexpected error placing call back %s", call.pk)
        error = SendError("unexpected error", code="timeout", ambiguous=True)
        raise ValidationError(_call_back_failed(call=call, error=error), code="carrier") from None
    call = _call_back_placed(call=call, provider_call_id=placed.provider_call_id, user=user)
    if getattr(provider, "simulated_delivery", False):
        call = _simulate_progress(call)
    return call


@transaction.atomic
def call_back_start(*, conversation: Conversation, user) -> tuple[Call, bool]:
    """Check that a call back can be placed and record it: (the new Call, True), or (the member's own call back
    that is still ringing, False) on a double tap. Takes the contact's and then the conversation's row lock (the
    order every inbox writer uses), so two taps at once are serialised and the second one sees the first's row.
    Raises ValidationError, writing nothing, for what the member or an owner has to fix first."""
    if not (user.phone or "").strip():
        raise ValidationError("Add your phone number in My settings: we ring it first.", code="no_phone")
    operator_number = to_e164_or_blank(user.phone)
    if not operator_number:
        raise ValidationError(
            f"Your phone number in My settings ({user.phone[:30]}) is not a valid number. Correct it there first.",
            code="no_phone",
        )
    contact = Contact.objects.select_for_update().get(pk=conversation.contact_id, business_id=conversation.business_id)
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("phone_number")
        .get(pk=conversation.pk, business_id=conversation.business_id)
    )
    number = conversation.phone_number
    if number is None:
        raise ValidationError("This conversation has no business number to call from.", code="no_number")
    caller = to_e164_or_blank(contact.phone)
    if not caller:
        raise ValidationError("The caller's number is withheld, so there is no number to call back.", code="withheld")
    if PhoneNumber.objects.filter(e164=operator_number).exists():
        # Ringing one of our own numbers would start an inbound call to a business instead of ringing a person.
        raise ValidationError(
            "Your phone number in My settings is a business number. Enter your own mobile there.", code="no_phone"
        )
    now = timezone.now()
    ringing = (
        Call.objects.filter(
            business_id=conversation.business_id,
            conversation=conversation,
            direction=Call.Direction.OUTBOUND,
            status=Status.RINGING,
            started_at__gte=now - dt.timedelta(seconds=DOUBLE_TAP_SECONDS),
        )
        .select_related("placed_by", "phone_number", "contact")
        .order_by("-started_at")
        .first()
    )
    if ringing is not None:
        if ringing.placed_by_id == user.pk:
            return ringing, False
        who = (ringing.placed_by.full_name or ringing.placed_by.email) if ringing.placed_by else "A teammate"
        raise ValidationError(f"{who} is already calling {contact.display} back.", code="in_progress")
    call = Call.objects.create(
        business_id=conversation.business_id,
        phone_number=number,
        provider=number.provider,
        provider_call_id=PENDING_PREFIX + uuid.uuid4().hex,
        direction=Call.Direction.OUTBOUND,
        caller=caller,
        status=Status.RINGING,
        decision=Call.Decision.NOT_MISSED,
        decision_reason="Call back by a team member: no text-back.",
        started_at=now,
        contact=contact,
        conversation=conversation,
        placed_by=user,
        operator_number=operator_number,
    )
    live.touch(conversation.business_id, conversation.pk)
    return call, True


@transaction.atomic
def _call_back_placed(*, call: Call, provider_call_id: str, user) -> Call:
    """The carrier took the call. Stores its id (unless a status callback already did), and counts the call back
    as a human response: the conversation's first response time (if it had none), a "new" conversation becomes
    "open", a timeline event, the audit entry "conversation.call_back"; it also acknowledges a running escalation
    and stops the answer-time timers. Locks the contact, the conversation, then the call (the global order)."""
    conversation = None
    if call.conversation_id is not None:
        contact_id = Conversation.objects.filter(pk=call.conversation_id).values_list("contact_id", flat=True).first()
        Contact.objects.select_for_update().filter(pk=contact_id).first()
        conversation = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("business")
            .filter(pk=call.conversation_id, business_id=call.business_id)
            .first()
        )
    call = Call.objects.select_for_update(of=("self",)).select_related("phone_number").get(pk=call.pk)
    if call.provider_call_id.startswith(PENDING_PREFIX):
        call.provider_call_id = provider_call_id
        call.save(update_fields=["provider_call_id", "updated_at"])
    if conversation is None:  # erased while the carrier was asked: nothing left to count the response on
        return call
    now = timezone.now()
    conversation.last_activity_at = now
    fields = ["last_activity_at"]
    if conversation.first_response_at is None:
        conversation.first_response_at = now
        fields.append("first_response_at")
    if conversation.status == Conversation.Status.NEW:  # "new" means nobody has acted yet; somebody just did
        conversation.status = Conversation.Status.OPEN
        fields.append("status")
    conversation.save(update_fields=fields)
    details = {
        "call_id": call.pk,
        "operator_number": call.operator_number,
        "business_number": call.phone_number.e164,
        "caller": call.caller,
    }
    ConversationEvent.objects.create(
        business_id=conversation.business_id,
        conversation=conversation,
        kind=ConversationEvent.Kind.CALL_BACK,
        actor=user,
        data=details,
    )
    audit(business=conversation.business, action="conversation.call_back", actor=user, target=conversation, **details)
    live.touch(conversation.business_id, conversation.pk)
    human_acted(conversation=conversation, user=user, action="conversation.call_back")
    return call


@transaction.atomic
def _call_back_failed(*, call: Call, error: SendError) -> str:
    """The carrier did not take the call: the reason goes on the row, in the member's words, and is returned. A
    refusal ends the call ("failed"); an ambiguous answer (timeout, broken connection) leaves it ringing, since
    the phone may still ring: a status callback, if the call exists, moves it on."""
    logger.warning("call back %s not placed: %s", call.pk, error)
    reason = plain_call_error(error)
    call = Call.objects.select_for_update().get(pk=call.pk)
    call.error = reason[:300]
    fields = ["error", "updated_at"]
    if not error.ambiguous and call.status == Status.RINGING:
        call.status = Status.FAILED
        call.ended_at = timezone.now()
        fields += ["status", "ended_at"]
    call.save(update_fields=fields)
    live.touch(call.business_id, call.conversation_id)
    return reason


def calling_message(call: Call) -> str:
    """What the member reads once their call back is placed."""
    phone = phonenumbers.format_number(
        phonenumbers.parse(call.operator_number), phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    who = call.contact.display if call.contact else pretty(call.caller)
    return f"Calling your phone ({phone}). Answer it to be connected to {who}."


def call_back_for_webhook(*, provider: str, call_ref: str) -> Call | None:
    """The call back named by a callback URL we built (`?call=<id>`), with its business and numbers; None when
    there is no such call back. The tenant comes from this row, never from the request's parameters."""
    if not (call_ref.isascii() and call_ref.isdigit()) or len(call_ref) > 18:
        raise MalformedWebhook("call is missing from the callback URL")
    return (
        Call.objects.select_related("business", "phone_number", "contact")
        .filter(pk=int(call_ref), provider=provider, direction=Call.Direction.OUTBOUND)
        .first()
    )


def connect_context(call: Call) -> dict:
    """What the provider needs to render Action.CONNECT_CALLER for `call` (see Provider.place_call)."""
    return {
        "caller": call.caller,
        "caller_label": call.contact.display if call.contact else pretty(call.caller),
        "business_number": call.phone_number.e164,
        "ring_seconds": CALLER_RING_SECONDS,
    }


def call_back_is_live(call: Call, carrier_call_id: str) -> bool:
    """Whether the carrier may still connect `call`: it is ringing or answered, and `carrier_call_id` is its own
    call (raises MalformedWebhook for another call's id: only a misrouted or replayed-elsewhere request has one)."""
    _check_call_id(call, carrier_call_id)
    return call.status in (Status.RINGING, Status.ANSWERED)


@transaction.atomic
def call_back_status_changed(*, call: Call, event: CallStatusEvent, at: dt.datetime | None = None) -> Call:
    """The carrier's status callback for the member's leg of a call back. Moves the row forward only (ringing,
    answered, then completed / not answered / busy / failed): a replay, or a callback that arrives after a later
    one, changes nothing. Learns the carrier's call id if the placing request never returned it (a timeout)."""
    call = Call.objects.select_for_update().get(pk=call.pk)
    _check_call_id(call, event.call_id)
    fields = ["updated_at"]
    if call.provider_call_id.startswith(PENDING_PREFIX):
        call.provider_call_id = event.call_id
        call.error = ""  # it said "Twilio did not confirm the call": now it has
        fields += ["provider_call_id", "error"]
    progress = PROGRESS.get(event.status)
    if progress is None:
        logger.warning("unknown CallStatus %r for call back %s; ignored", event.status, call.pk)
    elif progress[0] > RANK[call.status]:
        now = at or timezone.now()
        call.status = progress[1]
        fields.append("status")
        if call.status == Status.ANSWERED:
            call.accepted_at = now
            fields.append("accepted_at")
        else:  # it ended
            call.ended_at = now
            call.duration = event.duration
            fields += ["ended_at", "duration"]
            if call.status == Status.FAILED and not call.error:
                call.error = "The carrier could not ring your phone."
                fields.append("error")
    if len(fields) > 1:
        call.save(update_fields=list(dict.fromkeys(fields)))
        live.touch(call.business_id, call.conversation_id)
    return call


def _check_call_id(call: Call, carrier_call_id: str) -> None:
    """A carrier request about `call` must name its call id; before we know it, any id no other call has."""
    if call.provider_call_id.startswith(PENDING_PREFIX):
        taken = Call.objects.filter(provider=call.provider, provider_call_id=carrier_call_id).exclude(pk=call.pk)
        if taken.exists():
            raise MalformedWebhook("the call id belongs to another call")
    elif call.provider_call_id != carrier_call_id:
        raise MalformedWebhook("the call id does not match the call back")


def _simulate_progress(call: Call) -> Call:
    """The simulator's call back: the member's phone rings, they answer, and the call ends, each step through the
    same status handling a carrier's callbacks drive, each in its own transaction as separate callbacks would be."""
    for status, duration in (("ringing", None), ("in-progress", None), ("completed", ANSWERED_SECONDS)):
        event = CallStatusEvent(call.provider_call_id, status, to=call.operator_number, duration=duration)
        call = call_back_status_changed(call=call, event=event)
    return call

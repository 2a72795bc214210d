"""Missed-call detection. Every webhook handler here is idempotent by the carrier's call id.

Each function runs in one transaction and takes the Call row lock (SELECT ... FOR UPDATE) before deciding, so a
replayed webhook, or the same webhook on two workers at once, finds the decision already made and changes nothing.
"""

import dataclasses
import datetime as dt
import logging

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from secdesk.orm import upsert
from secdesk.phone import to_e164_or_blank
from secdesk.ttl import TTLCache
from telephony.models import BlockedNumber, Call, PhoneNumber
from telephony.providers.base import (
    Action,
    CallStatusEvent,
    DialResult,
    IncomingCall,
    MalformedWebhook,
    RecordingEvent,
)
from tenants.models import Holiday

logger = logging.getLogger(__name__)

MissedReason = Call.MissedReason
Decision = Call.Decision

# DialCallStatus -> why the call was missed ("completed"/"answered" are decided by screening).
DIAL_MISSED = {
    "no-answer": MissedReason.NO_ANSWER,
    "busy": MissedReason.BUSY,
    "failed": MissedReason.UNREACHABLE,
    "canceled": MissedReason.CALLER_HUNG_UP,
}
# Final CallStatus of the caller's leg while we were still ringing: the backstop when no dial result arrives.
STATUS_MISSED = {
    "completed": MissedReason.CALLER_HUNG_UP,
    "canceled": MissedReason.CALLER_HUNG_UP,
    "no-answer": MissedReason.NO_ANSWER,
    "busy": MissedReason.BUSY,
    "failed": MissedReason.UNREACHABLE,
}
ANONYMOUS_IDS = {"anonymous", "restricted", "unknown", "private", "unavailable", "+266696687", "+86282452253"}


_numbers = TTLCache("TELEPHONY_CONFIG_CACHE_SECONDS")


def number_for(to: str, *, provider: str) -> PhoneNumber | None:
    """The business number a carrier event is addressed to; the tenant comes from this row alone. The business's
    hours, recent holidays and text-back settings come along, so the hot path asks nothing twice. Cached per
    process for a couple of seconds (TELEPHONY_CONFIG_CACHE_SECONDS): a settings change takes effect that much
    later; the returned objects are shared and read-only."""
    e164 = to_e164_or_blank(to)
    if not e164:
        return None
    return _numbers.get((provider, e164), lambda: _load_number(e164, provider))


def _load_number(e164: str, provider: str) -> PhoneNumber | None:
    recent = timezone.now().date() - dt.timedelta(days=1)
    return (
        PhoneNumber.objects.select_related(
            "business",
            "business__textback_settings",
            "business__response_settings",
            "business__routing_settings",
            "business__intake_settings",
        )
        .prefetch_related(
            "business__hours",
            "business__carrier_credentials",
            Prefetch("business__holidays", Holiday.objects.filter(date__gte=recent)),
        )
        .filter(e164=e164, provider=provider)
        .first()
    )


# Computed in the statement that takes the call's lock: whether the caller is on the business's blocklist.
_CALLER_BLOCKED = (
    f"EXISTS (SELECT 1 FROM {BlockedNumber._meta.db_table} blocked "  # noqa: S608 (a model's table name)
    "WHERE blocked.business_id = upserted.business_id AND blocked.e164 = upserted.caller)"
)


def _call_locked(*, number: PhoneNumber, call_id: str, from_raw: str, **details) -> Call:
    """The Call row for `call_id`, created once and row-locked until this transaction commits, in one statement
    (INSERT ... ON CONFLICT on the unique (provider, provider_call_id)): concurrent webhooks never create two, and
    a replay finds the stored row unchanged, waiting for the first to commit. The same statement learns whether
    the caller is on the blocklist (`call.caller_blocked`, read by the text-back decision). The number and
    business (with their prefetches) we hold are reused."""
    call, _ = upsert(
        Call(
            business=number.business,
            phone_number=number,
            provider=number.provider,
            provider_call_id=call_id,
            from_raw=from_raw,
            caller=to_e164_or_blank(from_raw),
            started_at=timezone.now(),
            **details,
        ),
        conflict=["provider", "provider_call_id"],
        extra={"caller_blocked": _CALLER_BLOCKED},
    )
    return _adopt(call, number)


def _locked(call: Call, number: PhoneNumber) -> Call:
    """Re-read the call under its row lock, reusing the number and business (with their prefetches) we hold."""
    return _adopt(Call.objects.select_for_update().get(pk=call.pk), number)


def _adopt(call: Call, number: PhoneNumber) -> Call:
    if call.business_id != number.business_id:
        # Only a forged or misrouted webhook can name another business's call id.
        raise MalformedWebhook("the call belongs to another number")
    if call.phone_number_id == number.pk:
        call.phone_number = number
        call.business = number.business
    return call


@transaction.atomic
def call_incoming(*, number: PhoneNumber, event: IncomingCall, at: dt.datetime | None = None) -> tuple[Call, Action]:
    """A call reached a business number. Ring mode and open: ring the business's phone. Closed or forwarded mode:
    the call is missed now. Idempotent: a replay answers the same way and writes nothing new."""
    details = {
        f.name: getattr(event, f.name)
        for f in dataclasses.fields(event)
        if f.name in {"caller_name", "caller_city", "caller_state", "caller_zip", "stir_verstat"}
    }
    call = _call_locked(number=number, call_id=event.call_id, from_raw=event.from_raw, **details)
    if call.status == Call.Status.MISSED:
        return call, _after_missed_action(number)
    if call.status == Call.Status.ANSWERED:
        return call, Action.NOTHING
    if number.mode == PhoneNumber.Mode.FORWARDED:
        _register_missed(call, MissedReason.FORWARDED, at=at)
        return call, _after_missed_action(number)
    if not number.business.is_open(at or timezone.now()):
        _register_missed(call, MissedReason.AFTER_HOURS, at=at)
        return call, _after_missed_action(number)
    if not number.forward_to:
        # Nothing to ring: treat as missed rather than leave the caller in silence.
        _register_missed(call, MissedReason.UNREACHABLE, at=at)
        return call, _after_missed_action(number)
    return call, Action.RING


def ringing_call(*, provider: str, call_id: str) -> Call | None:
    """The caller's call while we are still ringing the business's phone, or None."""
    return call_of(provider=provider, call_id=call_id, status=Call.Status.RINGING)


def call_of(*, provider: str, call_id: str, **filters) -> Call | None:
    """A call of ours by the carrier's id, with its business and number (for callbacks that name no number)."""
    calls = Call.objects.select_related("business", "phone_number")
    return calls.filter(provider=provider, provider_call_id=call_id, **filters).first()


@transaction.atomic
def call_screen_accept(*, provider: str, call_id: str, digits: str) -> Action:
    """The answered leg pressed a key. Only "1" proves a person took the call (a voicemail cannot press it).
    Idempotent; a call that is no longer ringing is not bridged."""
    call = ringing_call(provider=provider, call_id=call_id)
    if call is None or digits.strip() != "1":
        return Action.HANGUP
    call = _locked(call, call.phone_number)
    if call.status != Call.Status.RINGING:
        return Action.HANGUP
    if call.accepted_at is None:
        call.accepted_at = timezone.now()
        call.save(update_fields=["accepted_at", "updated_at"])
    return Action.BRIDGE


@transaction.atomic
def call_dial_result(*, number: PhoneNumber, event: DialResult, at: dt.datetime | None = None) -> tuple[Call, Action]:
    """The ringing of the business's phone ended. Missed unless a person accepted it (or screening is off and it
    was answered). Idempotent: the first result wins; replays answer the same way."""
    call = _call_locked(number=number, call_id=event.call_id, from_raw=event.from_raw)
    if call.status != Call.Status.RINGING:
        return call, (_after_missed_action(number) if call.status == Call.Status.MISSED else Action.HANGUP)
    call.dial_status = event.dial_status[:20]
    answered = event.dial_status in ("completed", "answered")
    if answered and (call.accepted_at is not None or not number.screening):
        call.status = Call.Status.ANSWERED
        call.decision = Decision.NOT_MISSED
        call.decision_reason = "Answered by a person." if call.accepted_at else "Answered (screening is off)."
        call.ended_at = at or timezone.now()
        call.duration = event.duration
        call.save()
        return call, Action.HANGUP
    if answered:
        reason = MissedReason.VOICEMAIL_PICKUP
    elif event.dial_status in DIAL_MISSED:
        reason = DIAL_MISSED[event.dial_status]
    else:
        logger.warning("unknown DialCallStatus %r for call %s; treating as missed", event.dial_status, call.pk)
        reason = MissedReason.UNREACHABLE
    _register_missed(call, reason, at=at)
    if reason == MissedReason.CALLER_HUNG_UP:
        return call, Action.HANGUP  # nobody is left on the line to leave a message
    return call, _after_missed_action(number)


@transaction.atomic
def call_status_changed(*, number: PhoneNumber, event: CallStatusEvent, at: dt.datetime | None = None) -> Call | None:
    """Status callback for the caller's leg. If the call ended while we were still ringing (the caller hung up
    before the dial result), this is where it becomes missed. Later callbacks only fill in the duration."""
    if event.status not in STATUS_MISSED:
        return Call.objects.filter(
            provider=number.provider, provider_call_id=event.call_id, business=number.business
        ).first()
    call = _call_locked(number=number, call_id=event.call_id, from_raw=event.from_raw)
    if call.status == Call.Status.RINGING:
        _register_missed(call, STATUS_MISSED[event.status], at=at)
    fields = ["updated_at"]
    if event.duration is not None and call.duration is None:
        call.duration = event.duration
        fields.append("duration")
    if call.ended_at is None:
        call.ended_at = at or timezone.now()
        fields.append("ended_at")
    call.save(update_fields=fields)
    return call


@transaction.atomic
def call_recording_ready(*, call: Call, event: RecordingEvent) -> Call:
    """Attach a voicemail recording to its call (from call_of). Idempotent; only a completed recording counts."""
    if event.status != "completed":
        return call
    call = _locked(call, call.phone_number)
    call.recording_sid = event.recording_id
    call.recording_url = event.url
    call.recording_duration = event.duration
    call.save(update_fields=["recording_sid", "recording_url", "recording_duration", "updated_at"])
    if call.conversation_id is not None:
        from inbox import live

        live.touch(call.business_id, call.conversation_id)
    return call


def _after_missed_action(number: PhoneNumber) -> Action:
    return Action.VOICEMAIL if number.voicemail_enabled else Action.HANGUP


def _textback_decision(call: Call) -> tuple[str, str]:
    """Whether a missed call earns a text-back, and why not. Recorded on the call for the owner to see; spam
    verdicts also go to `call.spam_verdict`. `call` comes from _call_locked."""
    raw = (call.from_raw or "").strip().lower()
    if not raw or raw in ANONYMOUS_IDS or raw.lstrip("+") in {a.lstrip("+") for a in ANONYMOUS_IDS}:
        call.spam_verdict = "anonymous"
        return Decision.SPAM, "Caller id withheld or anonymous."
    if not call.caller:
        call.spam_verdict = "invalid_caller_id"
        return Decision.SPAM, f"Caller id {call.from_raw[:30]!r} is not a valid phone number."
    if call.stir_verstat.startswith("TN-Validation-Failed"):
        call.spam_verdict = "stir_shaken_failed"
        return Decision.SPAM, f"STIR/SHAKEN attestation failed ({call.stir_verstat})."
    from telephony.selectors import insiders

    if call.caller_blocked:  # learnt when the call was locked (_call_locked)
        return Decision.BLOCKED, "The number is on your blocklist."
    if call.caller in insiders(call.business_id):
        return Decision.INTERNAL, "The caller is one of your own numbers or a team member."
    return Decision.TEXTED, ""


def _register_missed(call: Call, reason: str, *, at: dt.datetime | None = None) -> None:
    """Inside the caller's transaction with `call` locked by _call_locked (the text-back decision reads what that
    statement learnt): mark it missed, decide about the text-back, and for a real caller create or bump the
    contact and conversation and queue the text-back row."""
    from compliance.models import ConsentEvent
    from compliance.services import consent_record
    from inbox.services import conversation_for_missed_call
    from messaging.services import message_queue_textback

    now = at or timezone.now()
    call.status = Call.Status.MISSED
    call.missed_reason = reason
    call.ended_at = call.ended_at or now
    decision, why = _textback_decision(call)
    if decision == Decision.TEXTED:
        contact, conversation, is_repeat, texted_before = conversation_for_missed_call(call=call, at=now)
        call.contact, call.conversation = contact, conversation
        if is_repeat:
            decision = Decision.REPEAT
            why = f"Texted within the last {call.business.repeat_call_window_minutes} minutes; conversation bumped."
        else:
            message_queue_textback(call=call, conversation=conversation, first_text=not texted_before)
            consent_record(
                business=call.business,
                phone=call.caller,
                kind=ConsentEvent.Kind.IMPLIED_BY_CALL,
                source_ref=call.provider_call_id,
                call=call,
                note=f"Called {call.phone_number.e164} and was missed ({call.get_missed_reason_display()}).",
            )
            why = "Text-back queued."
    call.decision, call.decision_reason = decision, why
    call.save()
    from integrations import outbound

    outbound.call_missed(call)

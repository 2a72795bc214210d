"""Voice webhooks replayed through the real URLs, signed like Twilio signs them."""

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from django.test import Client

from inbox.models import Contact, Conversation
from messaging.models import Message
from telephony.models import BlockedNumber, Call
from tenants.models import BusinessHours, Holiday
from tests import twilio
from tests.numbers import CALLER, NUMBER_A, OWNER_MOBILE

pytestmark = pytest.mark.django_db


def incoming(call_sid: str, caller: str = CALLER, **extra):
    params = twilio.payload("voice_incoming", call_sid=call_sid, caller=caller, number=NUMBER_A)
    params.update(extra)
    return twilio.post("/webhooks/twilio/voice/", params)


def dial(call_sid: str, status: str, caller: str = CALLER):
    params = twilio.payload(
        "voice_dial_action",
        call_sid=call_sid,
        caller=caller,
        number=NUMBER_A,
        child_sid=twilio.sid("CA"),
        dial_status=status,
        dial_duration="0",
    )
    return twilio.post("/webhooks/twilio/voice/dial/", params)


def accept(call_sid: str, digits: str = "1"):
    params = twilio.payload(
        "voice_screen_accept",
        call_sid=call_sid,
        child_sid=twilio.sid("CA"),
        caller=CALLER,
        forward_to=OWNER_MOBILE,
        digits=digits,
    )
    return twilio.post(f"/webhooks/twilio/voice/screen/accept/?call={call_sid}", params)


def twiml(response) -> ET.Element:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/xml")
    return ET.fromstring(response.content)


def textbacks() -> list[Message]:
    return list(Message.objects.filter(kind=Message.Kind.TEXTBACK))


def test_ring_mode_rings_the_owner_with_screening(number_a):
    call_sid = twilio.sid("CA")
    root = twiml(incoming(call_sid))
    dial_el = root.find("Dial")
    assert dial_el.get("timeout") == "18"
    assert dial_el.get("answerOnBridge") == "true"
    assert dial_el.get("action") == "http://127.0.0.1:8000/webhooks/twilio/voice/dial/"
    number_el = dial_el.find("Number")
    assert number_el.text == OWNER_MOBILE
    assert number_el.get("url") == f"http://127.0.0.1:8000/webhooks/twilio/voice/screen/?call={call_sid}"
    call = Call.objects.get(provider_call_id=call_sid)
    assert call.status == Call.Status.RINGING
    assert call.caller == CALLER and call.caller_city == "SAN FRANCISCO" and call.stir_verstat.endswith("Passed-A")
    assert not textbacks()


def test_screen_asks_to_press_one(number_a):
    call_sid = twilio.sid("CA")
    incoming(call_sid)
    params = twilio.payload(
        "voice_screen", call_sid=call_sid, child_sid=twilio.sid("CA"), caller=CALLER, forward_to=OWNER_MOBILE
    )
    root = twiml(twilio.post(f"/webhooks/twilio/voice/screen/?call={call_sid}", params))
    gather = root.find("Gather")
    assert gather.get("numDigits") == "1"
    assert gather.get("action").endswith(f"/webhooks/twilio/voice/screen/accept/?call={call_sid}")
    assert "Press 1" in gather.find("Say").text and "Acme Plumbing" in gather.find("Say").text
    assert root.find("Hangup") is not None  # nothing pressed: the leg hangs up and the call counts as missed


@pytest.mark.parametrize(
    ("dial_status", "reason"),
    [
        ("no-answer", Call.MissedReason.NO_ANSWER),
        ("busy", Call.MissedReason.BUSY),
        ("failed", Call.MissedReason.UNREACHABLE),
        ("canceled", Call.MissedReason.CALLER_HUNG_UP),
    ],
)
def test_unanswered_dial_outcomes_are_missed_and_texted_once(number_a, dial_status, reason):
    call_sid = twilio.sid("CA")
    incoming(call_sid)
    root = twiml(dial(call_sid, dial_status))
    call = Call.objects.get(provider_call_id=call_sid)
    assert call.status == Call.Status.MISSED and call.missed_reason == reason
    assert call.decision == Call.Decision.TEXTED
    if reason == Call.MissedReason.CALLER_HUNG_UP:
        assert root.find("Hangup") is not None
    else:
        assert root.find("Record") is not None and root.find("Say") is not None
    [message] = textbacks()
    assert message.to_number == CALLER and message.from_number == NUMBER_A
    assert message.status == Message.Status.QUEUED
    assert message.idempotency_key == f"textback:{call_sid}"
    assert "Acme Plumbing" in message.body and message.body.endswith("Reply STOP to opt out.")
    assert message.conversation.contact.phone == CALLER
    assert call.conversation == message.conversation


def test_completed_without_pressing_one_is_a_voicemail_pickup(number_a):
    """The owner's own voicemail answered the forwarded call: Twilio says completed, but nobody pressed 1."""
    call_sid = twilio.sid("CA")
    incoming(call_sid)
    twiml(dial(call_sid, "completed"))
    call = Call.objects.get(provider_call_id=call_sid)
    assert call.status == Call.Status.MISSED
    assert call.missed_reason == Call.MissedReason.VOICEMAIL_PICKUP
    assert len(textbacks()) == 1


def test_pressing_one_then_completed_is_answered(number_a):
    call_sid = twilio.sid("CA")
    incoming(call_sid)
    root = twiml(accept(call_sid, "1"))
    assert len(root) == 0  # an empty <Response/> bridges the screened leg
    twiml(dial(call_sid, "completed"))
    call = Call.objects.get(provider_call_id=call_sid)
    assert call.status == Call.Status.ANSWERED and call.accepted_at is not None
    assert call.decision == Call.Decision.NOT_MISSED
    assert not textbacks()


def test_pressing_another_key_hangs_up_the_leg(number_a):
    call_sid = twilio.sid("CA")
    incoming(call_sid)
    root = twiml(accept(call_sid, "7"))
    assert root.find("Hangup") is not None
    twiml(dial(call_sid, "completed"))
    assert Call.objects.get(provider_call_id=call_sid).missed_reason == Call.MissedReason.VOICEMAIL_PICKUP


def test_screening_off_trusts_completed(number_a):
    number_a.screening = False
    number_a.save()
    call_sid = twilio.sid("CA")
    root = twiml(incoming(call_sid))
    assert root.find("Dial/Number").get("url") is None
    twiml(dial(call_sid, "completed"))
    assert Call.objects.get(provider_call_id=call_sid).status == Call.Status.ANSWERED


def test_closed_hours_go_straight_to_missed(number_a, tenant_a):
    BusinessHours.objects.filter(business=tenant_a.business).delete()
    BusinessHours.objects.create(business=tenant_a.business, weekday=0, opens=dt.time(9), closes=dt.time(9, 1))
    call_sid = twilio.sid("CA")
    root = twiml(incoming(call_sid))
    assert root.find("Dial") is None and root.find("Record") is not None
    call = Call.objects.get(provider_call_id=call_sid)
    assert call.missed_reason == Call.MissedReason.AFTER_HOURS
    [message] = textbacks()
    assert "closed" in message.body


def test_holiday_is_after_hours(number_a, tenant_a):
    today = dt.datetime.now(tz=tenant_a.business.tz).date()
    Holiday.objects.create(business=tenant_a.business, date=today, name="Staff day")
    call_sid = twilio.sid("CA")
    twiml(incoming(call_sid))
    assert Call.objects.get(provider_call_id=call_sid).missed_reason == Call.MissedReason.AFTER_HOURS


def test_forwarded_mode_every_call_is_missed(number_a):
    number_a.mode = "forwarded"
    number_a.voicemail_enabled = False
    number_a.save()
    call_sid = twilio.sid("CA")
    root = twiml(incoming(call_sid))
    assert root.find("Hangup") is not None and root.find("Dial") is None
    call = Call.objects.get(provider_call_id=call_sid)
    assert call.missed_reason == Call.MissedReason.FORWARDED
    assert len(textbacks()) == 1


def test_caller_hangs_up_while_ringing_status_callback_is_the_backstop(number_a):
    call_sid = twilio.sid("CA")
    incoming(call_sid)
    params = twilio.payload("voice_status", call_sid=call_sid, caller=CALLER, number=NUMBER_A, call_status="completed")
    response = twilio.post("/webhooks/twilio/voice/status/", params)
    assert response.status_code == 204
    call = Call.objects.get(provider_call_id=call_sid)
    assert call.missed_reason == Call.MissedReason.CALLER_HUNG_UP and call.duration == 7
    assert len(textbacks()) == 1
    # the dial result arriving afterwards changes nothing
    twiml(dial(call_sid, "canceled"))
    assert Call.objects.get(provider_call_id=call_sid).missed_reason == Call.MissedReason.CALLER_HUNG_UP
    assert len(textbacks()) == 1


def test_status_callback_after_answer_does_not_make_it_missed(number_a):
    call_sid = twilio.sid("CA")
    incoming(call_sid)
    accept(call_sid)
    dial(call_sid, "completed")
    params = twilio.payload("voice_status", call_sid=call_sid, caller=CALLER, number=NUMBER_A, call_status="completed")
    twilio.post("/webhooks/twilio/voice/status/", params)
    assert Call.objects.get(provider_call_id=call_sid).status == Call.Status.ANSWERED


@pytest.mark.django_db(transaction=True)
def test_recording_is_attached(number_a):
    """Outside a test transaction, as in production: the webhook's lock runs in its own transaction."""
    call_sid = twilio.sid("CA")
    incoming(call_sid)
    dial(call_sid, "no-answer")
    rec_sid = twilio.sid("RE")
    params = twilio.payload("voice_recording", call_sid=call_sid, recording_sid=rec_sid)
    assert "To" not in params  # as Twilio sends it: the call names the number
    assert twilio.post("/webhooks/twilio/voice/recording/", params).status_code == 204
    call = Call.objects.get(provider_call_id=call_sid)
    assert call.recording_sid == rec_sid and call.recording_duration == 14
    assert call.recording_url.endswith(rec_sid)


def test_second_missed_call_inside_window_bumps_without_second_text(number_a):
    first, second = twilio.sid("CA"), twilio.sid("CA")
    incoming(first)
    dial(first, "no-answer")
    incoming(second)
    dial(second, "no-answer")
    assert len(textbacks()) == 1
    call = Call.objects.get(provider_call_id=second)
    assert call.decision == Call.Decision.REPEAT
    conversation = Conversation.objects.get()
    assert conversation.repeat_call_count == 1 and call.conversation == conversation


def test_missed_call_after_window_texts_again_in_same_open_conversation(number_a):
    first = twilio.sid("CA")
    incoming(first)
    dial(first, "no-answer")
    Call.objects.filter(provider_call_id=first).update(started_at=dt.datetime.now(tz=dt.UTC) - dt.timedelta(hours=1))
    second = twilio.sid("CA")
    incoming(second)
    dial(second, "no-answer")
    assert len(textbacks()) == 2
    assert Conversation.objects.count() == 1
    second_text = Message.objects.get(idempotency_key=f"textback:{second}")
    assert "Reply STOP" not in second_text.body  # only the first text to a number carries the opt-out line


@pytest.mark.parametrize("caller", ["anonymous", "restricted", "+266696687", "", "12"])
def test_withheld_or_invalid_caller_is_spam_and_not_texted(number_a, caller):
    call_sid = twilio.sid("CA")
    incoming(call_sid, caller=caller)
    dial(call_sid, "no-answer", caller=caller)
    call = Call.objects.get(provider_call_id=call_sid)
    assert call.status == Call.Status.MISSED and call.decision == Call.Decision.SPAM
    assert call.decision_reason and call.spam_verdict in ("anonymous", "invalid_caller_id")
    assert not textbacks() and not Contact.objects.exists()


def test_failed_stir_shaken_is_spam(number_a):
    call_sid = twilio.sid("CA")
    incoming(call_sid, StirVerstat="TN-Validation-Failed-B")
    dial(call_sid, "no-answer")
    call = Call.objects.get(provider_call_id=call_sid)
    assert call.decision == Call.Decision.SPAM and call.spam_verdict == "stir_shaken_failed"
    assert not textbacks()


def test_blocklisted_and_team_callers_are_not_texted(number_a, tenant_a):
    BlockedNumber.objects.create(business=tenant_a.business, e164=CALLER)
    call_sid = twilio.sid("CA")
    incoming(call_sid)
    dial(call_sid, "busy")
    assert Call.objects.get(provider_call_id=call_sid).decision == Call.Decision.BLOCKED

    tenant_a.operator.phone = "+14152223333"
    tenant_a.operator.save()
    call_sid = twilio.sid("CA")
    incoming(call_sid, caller="+14152223333")
    dial(call_sid, "busy", caller="+14152223333")
    assert Call.objects.get(provider_call_id=call_sid).decision == Call.Decision.INTERNAL

    call_sid = twilio.sid("CA")
    incoming(call_sid, caller=OWNER_MOBILE)
    dial(call_sid, "busy", caller=OWNER_MOBILE)
    assert Call.objects.get(provider_call_id=call_sid).decision == Call.Decision.INTERNAL
    assert not textbacks()


def test_same_webhooks_replayed_three_times_change_nothing(number_a):
    call_sid = twilio.sid("CA")
    for _ in range(3):
        twiml(incoming(call_sid))
    first = None
    for _ in range(3):
        body = dial(call_sid, "no-answer").content
        assert first in (None, body)
        first = body
    assert Call.objects.filter(provider_call_id=call_sid).count() == 1
    assert len(textbacks()) == 1 and Conversation.objects.count() == 1 and Contact.objects.count() == 1


def test_dial_result_without_incoming_still_records_once(number_a):
    """If the incoming-call webhook never reached us, the dial result alone creates the call."""
    call_sid = twilio.sid("CA")
    dial(call_sid, "no-answer")
    dial(call_sid, "no-answer")
    assert Call.objects.get(provider_call_id=call_sid).status == Call.Status.MISSED
    assert len(textbacks()) == 1


# --- authentication and bad input ---------------------------------------------------------------------------


def nothing_written():
    return not Call.objects.exists() and not Message.objects.exists() and not Contact.objects.exists()


def test_forged_signature_is_403_and_stores_nothing(number_a):
    params = twilio.payload("voice_incoming", call_sid=twilio.sid("CA"), caller=CALLER, number=NUMBER_A)
    assert twilio.post("/webhooks/twilio/voice/", params, signature="bm90IGEgc2lnbmF0dXJl").status_code == 403
    assert twilio.post("/webhooks/twilio/voice/", params, signature="").status_code == 403
    assert nothing_written()


def test_signature_with_another_accounts_token_is_403(number_a, number_b):
    from tests.numbers import OTHER_AUTH_TOKEN

    params = twilio.payload("voice_incoming", call_sid=twilio.sid("CA"), caller=CALLER, number=NUMBER_A)
    assert twilio.post("/webhooks/twilio/voice/", params, token=OTHER_AUTH_TOKEN).status_code == 403
    assert nothing_written()


def test_tampered_parameter_is_403(number_a):
    params = twilio.payload(
        "voice_dial_action",
        call_sid=twilio.sid("CA"),
        caller=CALLER,
        number=NUMBER_A,
        child_sid=twilio.sid("CA"),
        dial_status="completed",
        dial_duration="30",
    )
    url = "http://127.0.0.1:8000/webhooks/twilio/voice/dial/"
    signature = twilio.sign(url, params)
    response = Client().post(
        "/webhooks/twilio/voice/dial/",
        {**params, "DialCallStatus": "no-answer"},
        headers={"X-Twilio-Signature": signature},
    )
    assert response.status_code == 403 and nothing_written()


def test_unknown_account_is_403(number_a):
    params = twilio.payload(
        "voice_incoming", call_sid=twilio.sid("CA"), caller=CALLER, number=NUMBER_A, account_sid="AC" + "0" * 32
    )
    assert twilio.post("/webhooks/twilio/voice/", params).status_code == 403


def test_platform_account_fallback(number_a, settings):
    """A business without its own Twilio account is served by the platform's; one with its own is not."""
    from telephony.models import CarrierCredential

    settings.TWILIO_ACCOUNT_SID = "AC" + "c3" * 16
    settings.TWILIO_AUTH_TOKEN = "d4" * 16
    params = twilio.payload(
        "voice_incoming", call_sid=twilio.sid("CA"), caller=CALLER, number=NUMBER_A, account_sid="AC" + "c3" * 16
    )
    assert twilio.post("/webhooks/twilio/voice/", params, token="d4" * 16).status_code == 403
    CarrierCredential.objects.filter(business=number_a.business).delete()
    assert twilio.post("/webhooks/twilio/voice/", params, token="d4" * 16).status_code == 200


def test_number_we_do_not_own_gets_empty_answer_and_nothing_written(number_a, caplog):
    params = twilio.payload("voice_incoming", call_sid=twilio.sid("CA"), caller=CALLER, number="+12125550199")
    root = twiml(twilio.post("/webhooks/twilio/voice/", params))
    assert len(root) == 0
    assert nothing_written()
    assert "do not own" in caplog.text


@pytest.mark.parametrize(
    "change",
    [
        {"CallSid": "nope"},
        {"CallSid": ""},
        {"CallSid": "CA" + "z" * 32},
        {"DialCallStatus": ""},
        {"DialCallDuration": "ten"},
    ],
)
def test_malformed_parameters_are_400(number_a, change):
    params = twilio.payload(
        "voice_dial_action",
        call_sid=twilio.sid("CA"),
        caller=CALLER,
        number=NUMBER_A,
        child_sid=twilio.sid("CA"),
        dial_status="no-answer",
        dial_duration="0",
    )
    params.update(change)
    assert twilio.post("/webhooks/twilio/voice/dial/", params).status_code == 400
    assert nothing_written()


def test_get_is_not_allowed(number_a):
    assert Client().get("/webhooks/twilio/voice/").status_code == 405


def test_other_business_number_routes_to_other_business(number_a, number_b, tenant_b):
    from tests.numbers import NUMBER_B, OTHER_ACCOUNT_SID, OTHER_AUTH_TOKEN

    call_sid = twilio.sid("CA")
    params = twilio.payload(
        "voice_incoming", call_sid=call_sid, caller=CALLER, number=NUMBER_B, account_sid=OTHER_ACCOUNT_SID
    )
    twiml(twilio.post("/webhooks/twilio/voice/", params, token=OTHER_AUTH_TOKEN))
    assert Call.objects.get(provider_call_id=call_sid).business == tenant_b.business


def test_another_tenants_account_cannot_sign_for_this_number(number_a, number_b):
    """B has a real Twilio account and a valid signature, but A's number is not B's to speak for."""
    from tests.numbers import OTHER_ACCOUNT_SID, OTHER_AUTH_TOKEN

    call_sid = twilio.sid("CA")
    for path, name in (
        ("/webhooks/twilio/voice/", "voice_incoming"),
        ("/webhooks/twilio/voice/dial/", "voice_dial_action"),
    ):
        params = twilio.payload(
            name,
            call_sid=call_sid,
            caller=CALLER,
            number=NUMBER_A,
            account_sid=OTHER_ACCOUNT_SID,
            child_sid=twilio.sid("CA"),
            dial_status="no-answer",
            dial_duration="0",
        )
        assert twilio.post(path, params, token=OTHER_AUTH_TOKEN).status_code == 403
    assert nothing_written()


def test_another_tenants_account_cannot_press_one_for_this_call(number_a, number_b):
    from tests.numbers import OTHER_ACCOUNT_SID, OTHER_AUTH_TOKEN

    call_sid = twilio.sid("CA")
    incoming(call_sid)
    params = twilio.payload(
        "voice_screen_accept",
        call_sid=call_sid,
        child_sid=twilio.sid("CA"),
        caller=CALLER,
        forward_to=OWNER_MOBILE,
        digits="1",
        account_sid=OTHER_ACCOUNT_SID,
    )
    path = f"/webhooks/twilio/voice/screen/accept/?call={call_sid}"
    assert twilio.post(path, params, token=OTHER_AUTH_TOKEN).status_code == 403
    assert Call.objects.get(provider_call_id=call_sid).accepted_at is None

"""Inbound SMS/MMS and delivery-status webhooks, replayed and signed like Twilio's."""

import pytest
from django.core.files.storage import default_storage

from inbox.models import Conversation
from messaging.media import fetch_media
from messaging.models import Message
from tests import twilio
from tests.factories import OutboundMessageFactory
from tests.numbers import CALLER, NUMBER_A, NUMBER_B, OTHER_ACCOUNT_SID, OTHER_AUTH_TOKEN

pytestmark = pytest.mark.django_db
S = Message.Status


def inbound(body: str, *, message_sid: str | None = None, number: str = NUMBER_A, caller: str = CALLER, **extra):
    params = twilio.payload(
        "sms_inbound",
        message_sid=message_sid or twilio.sid("SM"),
        body="{body}",
        caller=caller,
        number=number,
        **({"account_sid": extra.pop("account_sid")} if "account_sid" in extra else {}),
    )
    params["Body"] = body
    params.update(extra)
    return params


def post_inbound(params, token=twilio.AUTH_TOKEN):
    return twilio.post("/webhooks/twilio/sms/", params, token=token)


def status(message_sid: str, status_: str, error_code: str = "", hint: int | None = None):
    params = twilio.payload(
        "sms_status", message_sid=message_sid, status=status_, error_code=error_code, number=NUMBER_A, caller=CALLER
    )
    path = "/webhooks/twilio/sms/status/" + (f"?m={hint}" if hint else "")
    return twilio.post(path, params)


def sent_message(business, number, sid: str) -> Message:
    return OutboundMessageFactory(
        phone_number=number, kind="textback", body="hi", status=S.SENT, provider_message_id=sid, status_rank=3
    )


def test_reply_lands_in_the_callers_open_conversation(number_a):
    dial = twilio.payload(
        "voice_dial_action",
        call_sid=twilio.sid("CA"),
        caller=CALLER,
        number=NUMBER_A,
        child_sid=twilio.sid("CA"),
        dial_status="no-answer",
        dial_duration="0",
    )
    twilio.post("/webhooks/twilio/voice/dial/", dial)
    conversation = Conversation.objects.get()
    response = post_inbound(inbound("Burst pipe in the kitchen, can someone come today?"))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    assert response.content.strip().endswith(b"<Response />")
    reply = Message.objects.get(direction="in")
    assert reply.conversation == conversation and reply.business == number_a.business
    assert reply.body.startswith("Burst pipe") and reply.status == S.RECEIVED and reply.from_number == CALLER
    conversation.refresh_from_db()
    assert conversation.last_inbound_at is not None


def test_text_from_a_new_number_opens_a_conversation(number_a):
    post_inbound(inbound("Do you do water heaters?", caller="+14152223333"))
    conversation = Conversation.objects.get()
    assert conversation.contact.phone == "+14152223333" and conversation.phone_number == number_a


def test_reply_to_other_business_lands_there(number_a, number_b, tenant_b):
    params = inbound("hello B", number=NUMBER_B, account_sid=OTHER_ACCOUNT_SID)
    assert post_inbound(params, token=OTHER_AUTH_TOKEN).status_code == 200
    assert Message.objects.get().business == tenant_b.business
    assert not Conversation.objects.filter(business=number_a.business).exists()


def test_replayed_inbound_changes_nothing(number_a):
    params = inbound("once")
    for _ in range(3):
        assert post_inbound(params).status_code == 200
    assert Message.objects.count() == 1


def test_1600_emoji_are_stored_intact(number_a):
    body = "🔥💧" * 800
    assert post_inbound(inbound(body)).status_code == 200
    message = Message.objects.get()
    assert message.body == body and len(message.body) == 1600
    assert message.encoding == "UCS-2" and message.segments == 48


def test_huge_body_is_refused_cleanly(number_a):
    response = post_inbound(inbound("x" * 6000))
    assert response.status_code == 400
    assert not Message.objects.exists()


def test_odd_unicode_is_kept_and_nul_dropped(number_a):
    body = "\u202eright-to-left \u0000 zero\u200bwidth e\u0301 \U0001f6b0"
    assert post_inbound(inbound(body)).status_code == 200
    assert Message.objects.get().body == body.replace("\u0000", "")


def test_forged_inbound_is_403(number_a):
    params = inbound("hi")
    assert twilio.post("/webhooks/twilio/sms/", params, token="0" * 32).status_code == 403
    assert not Message.objects.exists()


def test_inbound_to_unknown_number_is_ignored(number_a):
    response = post_inbound(inbound("hi", number="+12125550199"))
    assert response.status_code == 200 and not Message.objects.exists()


def test_mms_media_is_stored(number_a, fake_twilio):
    sid = twilio.sid("MM")
    media_url = f"{fake_twilio.base_url}/2010-04-01/Accounts/{twilio.ACCOUNT_SID}/Messages/{sid}/Media/ME{'0' * 32}"
    params = inbound(
        "photo of the leak",
        message_sid=sid,
        NumMedia="2",
        MediaUrl0=media_url,
        MediaContentType0="image/png",
        MediaUrl1="http://169.254.169.254/latest/meta-data",
        MediaContentType1="image/jpeg",
    )
    assert post_inbound(params).status_code == 200
    message = Message.objects.get()
    media = fetch_media(message_id=message.pk)
    assert media[0]["stored"].startswith(f"mms/{number_a.business_id}/") and media[0]["size"] > 0
    with default_storage.open(media[0]["stored"]) as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    assert "stored" not in media[1] and "unexpected media host" in media[1]["error"]
    assert fetch_media(message_id=message.pk) == Message.objects.get().media  # a retry stores nothing twice


def test_status_moves_forward_only(number_a):
    sid = twilio.sid("SM")
    message = sent_message(number_a.business, number_a, sid)
    for step in ["delivered", "sent", "queued", "delivered"]:
        assert status(sid, step).status_code == 204
    message.refresh_from_db()
    assert message.status == S.DELIVERED and message.delivered_at is not None
    status(sid, "read")
    message.refresh_from_db()
    assert message.status == S.DELIVERED and message.status_rank == 5


def test_undelivered_records_error_in_plain_words(number_a):
    sid = twilio.sid("SM")
    message = sent_message(number_a.business, number_a, sid)
    status(sid, "undelivered", "30003")
    message.refresh_from_db()
    assert message.status == S.UNDELIVERED and message.error_code == "30003"
    assert message.error_message == "The phone is off or out of coverage."


def test_status_for_unknown_message_is_ignored(number_a):
    assert status(twilio.sid("SM"), "delivered").status_code == 204


def test_status_hint_from_a_foreign_account_is_ignored(number_a, number_b):
    message = OutboundMessageFactory(phone_number=number_a, body="hi", status=S.UNKNOWN)
    params = twilio.payload(
        "sms_status",
        message_sid=twilio.sid("SM"),
        status="delivered",
        error_code="",
        number=NUMBER_A,
        caller=CALLER,
        account_sid=OTHER_ACCOUNT_SID,
    )
    twilio.post(f"/webhooks/twilio/sms/status/?m={message.pk}", params, token=OTHER_AUTH_TOKEN)
    message.refresh_from_db()
    assert message.status == S.UNKNOWN and message.provider_message_id is None


def test_malformed_status_is_400(number_a):
    params = twilio.payload(
        "sms_status", message_sid="nope", status="delivered", error_code="", number=NUMBER_A, caller=CALLER
    )
    assert twilio.post("/webhooks/twilio/sms/status/", params).status_code == 400
    assert (
        twilio.post(
            "/webhooks/twilio/sms/status/?m=abc", {**params, "MessageSid": twilio.sid("SM"), "SmsSid": ""}
        ).status_code
        == 400
    )


def test_another_tenants_account_cannot_text_in_as_this_numbers_caller(number_a, number_b):
    params = inbound("STOP", account_sid=OTHER_ACCOUNT_SID)  # To is A's number
    assert post_inbound(params, token=OTHER_AUTH_TOKEN).status_code == 403
    assert not Message.objects.exists()


def test_status_for_this_business_message_from_another_account_is_ignored(number_a, number_b):
    sid = twilio.sid("SM")
    message = sent_message(number_a.business, number_a, sid)
    params = twilio.payload(
        "sms_status",
        message_sid=sid,
        status="failed",
        error_code="30007",
        number=NUMBER_A,
        caller=CALLER,
        account_sid=OTHER_ACCOUNT_SID,
    )
    twilio.post("/webhooks/twilio/sms/status/", params, token=OTHER_AUTH_TOKEN)
    message.refresh_from_db()
    assert message.status == S.SENT

"""Each event is queued once per real trigger, through the real webhooks and services: a replayed carrier webhook
or a second click queues nothing more, and rolled-back work queues nothing at all."""

from collections import Counter

import pytest
from django.db import transaction

from inbox.actions import conversation_book
from inbox.models import Conversation
from inbox.urgency import mark_urgent
from intake.services import intake_link_for, intake_submit
from integrations.models import EVENT_NAMES, WebhookDelivery, WebhookEndpoint
from integrations.outbound import emit
from messaging.models import Message
from tests import twilio
from tests.numbers import CALLER, NUMBER_A

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoints(tenant_a, tenant_b):
    """Tenant A listens to everything; tenant B too, and must never get A's events."""
    return [
        WebhookEndpoint.objects.create(business=t.business, url="http://127.0.0.1:9/", events=list(EVENT_NAMES))
        for t in (tenant_a, tenant_b)
    ]


def queued(business=None) -> Counter:
    rows = WebhookDelivery.objects.all()
    if business is not None:
        rows = rows.filter(business=business)
    return Counter(rows.values_list("event_type", flat=True))


def text_in(body: str, sid: str):
    params = twilio.payload("sms_inbound", message_sid=sid, body="x", caller=CALLER, number=NUMBER_A)
    params["Body"] = body
    assert twilio.post("/webhooks/twilio/sms/", params).status_code == 200


def test_a_replayed_missed_call_webhook_emits_once(number_a, tenant_a, tenant_b, endpoints):
    call_sid, _ = twilio.missed_call()
    twilio.missed_call(call_sid)  # Twilio retries the same webhook
    assert queued(tenant_a.business) == {"call.missed": 1, "conversation.created": 1}
    assert queued(tenant_b.business) == {}
    missed = WebhookDelivery.objects.get(event_type="call.missed")
    created = WebhookDelivery.objects.get(event_type="conversation.created")
    conversation = Conversation.objects.get(business=tenant_a.business)
    assert missed.payload["data"]["conversation_id"] == conversation.pk
    assert created.payload["data"]["conversation"]["caller"] == CALLER
    assert created.payload["data"]["conversation"]["url"].endswith(f"/app/acme/conversations/{conversation.pk}/")


def test_a_missed_call_that_is_not_texted_still_emits_call_missed(number_a, tenant_a, endpoints):
    twilio.missed_call(caller="anonymous")
    assert queued(tenant_a.business) == {"call.missed": 1}
    [row] = WebhookDelivery.objects.all()
    assert row.payload["data"]["call"]["texted"] is False and row.payload["data"]["call"]["caller"] is None


def test_texts_emit_message_received_once_and_keywords_emit_opt_out(number_a, tenant_a, endpoints):
    text_in("Can you come look at a leak tomorrow?", "SM" + "1" * 32)
    text_in("Can you come look at a leak tomorrow?", "SM" + "1" * 32)  # replay
    text_in("STOP", "SM" + "2" * 32)
    counts = queued(tenant_a.business)
    assert counts["message.received"] == 1 and counts["contact.opted_out"] == 1
    received = WebhookDelivery.objects.get(event_type="message.received")
    assert received.payload["data"]["message"]["body"] == "Can you come look at a leak tomorrow?"
    opted_out = WebhookDelivery.objects.get(event_type="contact.opted_out")
    assert opted_out.payload["data"]["phone"] == CALLER


def test_a_failed_delivery_status_emits_message_failed_once(number_a, tenant_a, endpoints):
    call_sid, _ = twilio.missed_call()
    message = twilio.textback(call_sid)
    Message.objects.filter(pk=message.pk).update(provider_message_id="SM" + "3" * 32, status="sent", status_rank=3)
    params = twilio.payload(
        "sms_status",
        message_sid="SM" + "3" * 32,
        status="undelivered",
        error_code="30003",
        number=NUMBER_A,
        caller=CALLER,
    )
    twilio.post("/webhooks/twilio/sms/status/", params)
    twilio.post("/webhooks/twilio/sms/status/", params)
    [row] = WebhookDelivery.objects.filter(event_type="message.failed")
    assert (
        row.payload["data"]["message"]["id"] == message.pk and row.payload["data"]["message"]["error_code"] == "30003"
    )


def test_urgent_booked_and_intake_emit_once(number_a, tenant_a, endpoints):
    twilio.missed_call()
    conversation = Conversation.objects.get(business=tenant_a.business)
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        assert mark_urgent(conversation=locked, reason="Burst pipe")
        assert not mark_urgent(conversation=locked, reason="Burst pipe again")
    link = intake_link_for(conversation=conversation)
    intake_submit(link=link, data={"name": "Dana", "zip_code": "94110", "consent": True}, photos=[], language="en")
    conversation_book(conversation=conversation, value=1200, actor=tenant_a.owner)
    counts = queued(tenant_a.business)
    assert counts["conversation.urgent"] == 1 and counts["intake.submitted"] == 1
    assert counts["conversation.booked"] == 1
    booked = WebhookDelivery.objects.get(event_type="conversation.booked")
    assert booked.payload["data"]["booked_value"] == "1200"
    intake = WebhookDelivery.objects.get(event_type="intake.submitted")
    assert intake.payload["data"]["intake"]["name"] == "Dana" and intake.payload["data"]["intake"]["first"] is True


def test_unsubscribed_and_paused_endpoints_get_nothing(number_a, tenant_a):
    WebhookEndpoint.objects.create(business=tenant_a.business, url="http://127.0.0.1:9/", events=["contact.opted_out"])
    WebhookEndpoint.objects.create(
        business=tenant_a.business, url="http://127.0.0.1:9/", events=list(EVENT_NAMES), active=False
    )
    twilio.missed_call()
    assert queued() == {}


def test_work_that_rolls_back_emits_nothing(number_a, tenant_a, endpoints):
    with pytest.raises(RuntimeError), transaction.atomic():
        emit(business_id=tenant_a.business.pk, event_type="call.missed", data={})
        raise RuntimeError("the cause failed")
    assert queued() == {}

"""Compliance keywords through the real inbound webhook, and the suppression and quiet-hours rules in the sender."""

import datetime as dt
import threading
import time
import zoneinfo

import pytest
from django.db import connection
from django.utils import timezone

from compliance.models import ConsentEvent
from compliance.services import consent_record
from inbox.models import Contact
from messaging.models import Message
from messaging.sending import send_message
from tests import twilio
from tests.factories import OutboundMessageFactory
from tests.numbers import CALLER, NUMBER_A

S = Message.Status


def text_in(body: str, **extra):
    params = twilio.payload("sms_inbound", message_sid=twilio.sid("SM"), body="x", caller=CALLER, number=NUMBER_A)
    params["Body"] = body
    params.update(extra)
    response = twilio.post("/webhooks/twilio/sms/", params)
    assert response.status_code == 200
    return params


def outbound(kind=None) -> list[Message]:
    qs = Message.objects.filter(direction="out").order_by("id")
    return list(qs.filter(kind=kind) if kind else qs)


def ledger(kind=None) -> list[ConsentEvent]:
    qs = ConsentEvent.objects.order_by("id")
    return list(qs.filter(kind=kind) if kind else qs)


def missed_call() -> Message:
    call_sid, response = twilio.missed_call()
    assert response.status_code == 200
    return twilio.textback(call_sid)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body", ["STOP", "stop", "Stop.", " stop ", "STOPALL", "unsubscribe", "Cancel", "END", "quit!", "REVOKE", "optout"]
)
def test_opt_out_keywords_opt_out_at_once_with_one_confirmation(number_a, body):
    text_in(body)
    [event] = ledger(ConsentEvent.Kind.OPT_OUT)
    assert event.phone == CALLER and event.raw_text == body and event.review == ""
    assert event.source_ref.startswith("SM") and event.message.direction == "in"
    assert Contact.objects.get(phone=CALLER).opted_out is True
    [confirmation] = outbound(Message.Kind.OPT_OUT_CONFIRM)
    assert "unsubscribed" in confirmation.body and "Acme Plumbing" in confirmation.body
    assert "%" not in confirmation.body and "offer" not in confirmation.body.lower()
    # a second STOP: recorded, but no second confirmation
    text_in("STOP")
    assert len(ledger(ConsentEvent.Kind.OPT_OUT)) == 2 and len(outbound(Message.Kind.OPT_OUT_CONFIRM)) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        "STOP please",
        "please stop",
        "stop texting me",
        "no more texts",
        "para",
        "no más mensajes",
        "leave me alone",
        "unsubscribe me",
    ],
)
def test_natural_language_opt_outs_are_honoured_and_flagged_for_review(number_a, body):
    text_in(body)
    [event] = ledger(ConsentEvent.Kind.OPT_OUT)
    assert event.review == ConsentEvent.Review.PENDING
    assert Contact.objects.get(phone=CALLER).opted_out is True


@pytest.mark.django_db
def test_ordinary_message_is_not_an_opt_out(number_a):
    text_in("The water heater won't stop leaking, can you come today?")
    assert not ledger() and not outbound()


@pytest.mark.django_db
def test_carrier_already_confirmed_means_no_second_confirmation(number_a):
    text_in("STOP", OptOutType="STOP")
    assert ledger(ConsentEvent.Kind.OPT_OUT) and not outbound(Message.Kind.OPT_OUT_CONFIRM)


@pytest.mark.django_db
def test_number_setting_carrier_handles_keywords(number_a):
    number_a.carrier_handles_keywords = True
    number_a.save()
    text_in("STOP")
    text_in("HELP")
    assert not outbound()


@pytest.mark.django_db
def test_help_answers_with_the_business_help_text(number_a):
    text_in("help")
    [reply] = outbound(Message.Kind.AUTO_HELP)
    assert reply.body == "Acme Plumbing: Call us at (555) 010-0000. Reply STOP to opt out. Msg & data rates may apply."
    assert reply.to_number == CALLER and reply.trigger == "rule" and reply.trigger_detail.startswith("help_reply")
    assert ledger(ConsentEvent.Kind.HELP)


@pytest.mark.django_db
def test_start_restores_sending_only_after_an_opt_out(number_a, fake_twilio):
    text_in("YES")  # a subscribed caller saying yes is just a message
    assert not ledger(ConsentEvent.Kind.OPT_IN)
    text_in("STOP")
    text_in("START")
    assert ledger(ConsentEvent.Kind.OPT_IN) and Contact.objects.get(phone=CALLER).opted_out is False
    message = missed_call()
    assert send_message(message_id=message.pk) == "sent"
    assert [r["To"] for r in fake_twilio.requests if r["Body"] == message.body] == [CALLER]


@pytest.mark.django_db
def test_stop_fails_queued_texts_and_later_ones(number_a, fake_twilio):
    queued = missed_call()
    text_in("STOP")
    queued.refresh_from_db()
    assert queued.status == S.FAILED and queued.error_message == "Recipient opted out; not sent."
    confirmation = outbound(Message.Kind.OPT_OUT_CONFIRM)[0]
    assert send_message(message_id=confirmation.pk) == "sent"  # the one confirmation still goes out
    later = OutboundMessageFactory(phone_number=number_a, body="Are you still there?")
    assert send_message(message_id=later.pk) == "nothing to claim"
    later.refresh_from_db()
    assert later.status == S.FAILED and "opted out" in later.error_message
    assert [r["Body"] for r in fake_twilio.requests] == [confirmation.body]


@pytest.mark.django_db
def test_21610_marks_the_number_opted_out(number_a, fake_twilio):
    fake_twilio.then(("error", 400, 21610))
    message = missed_call()
    send_message(message_id=message.pk)
    [event] = ledger(ConsentEvent.Kind.CARRIER_BLOCK)
    assert event.message == message and Contact.objects.get(phone=CALLER).opted_out is True


@pytest.mark.django_db(transaction=True)
def test_stop_committed_while_text_back_is_queued_wins_against_a_worker(number_a, fake_twilio):
    """The text-back is queued; a STOP commits; only then may a worker try. Real transactions, real threads."""
    fake_twilio.delay = 0.05
    message = missed_call()
    started = threading.Event()
    results = []

    def worker():
        started.wait()
        results.append(send_message(message_id=message.pk))
        connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    text_in("STOP")  # commits before the worker runs
    started.set()
    thread.join()
    assert results == ["nothing to claim"]
    assert [r["Body"] for r in fake_twilio.requests] == []
    message.refresh_from_db()
    assert message.status == S.FAILED


@pytest.mark.django_db(transaction=True)
def test_hundred_queued_texts_none_sent_after_stop(number_a, fake_twilio, celery_worker):
    contact = Contact.objects.create(business=number_a.business, phone=CALLER)
    assert contact
    rows = Message.objects.bulk_create(
        Message(
            business=number_a.business,
            phone_number=number_a,
            direction="out",
            kind="reply",
            from_number=NUMBER_A,
            to_number=CALLER,
            body=f"queued {i}",
            status=S.QUEUED,
            provider="twilio",
            next_attempt_at=timezone.now() + dt.timedelta(seconds=1),
        )
        for i in range(100)
    )
    text_in("STOP")
    from messaging.sending import sweep_outbound

    time.sleep(3.5)
    sweep_outbound()
    time.sleep(2)
    assert Message.objects.filter(pk__in=[r.pk for r in rows], status=S.FAILED).count() == 100
    assert all(r["Body"].startswith("Acme Plumbing: you're unsubscribed") for r in fake_twilio.requests)


def _local(zone: str, *args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=zoneinfo.ZoneInfo(zone))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("caller", "zone", "now", "expected_local"),
    [
        ("+13055550123", "America/New_York", (2026, 11, 24, 20, 30), (2026, 11, 25, 8, 0)),  # Florida 20:30
        ("+12145550123", "America/Chicago", (2026, 11, 22, 10, 0), (2026, 11, 22, 12, 0)),  # Texas Sunday 10:00
    ],
)
def test_follow_up_waits_for_the_recipients_quiet_hours(
    number_a, fake_twilio, time_machine, caller, zone, now, expected_local
):
    time_machine.move_to(_local(zone, *now), tick=False)
    message = OutboundMessageFactory(phone_number=number_a, kind="follow_up", to_number=caller, body="Just checking in")
    assert send_message(message_id=message.pk) == "nothing to claim"
    message.refresh_from_db()
    assert message.status == S.QUEUED and message.next_attempt_at == _local(zone, *expected_local)
    assert fake_twilio.requests == []
    time_machine.move_to(_local(zone, *expected_local), tick=False)
    assert send_message(message_id=message.pk) == "sent"


@pytest.mark.django_db
def test_text_back_goes_at_once_unless_the_business_opts_in(number_a, fake_twilio, time_machine):
    from compliance.models import ComplianceSettings

    time_machine.move_to(_local("America/Los_Angeles", 2026, 11, 24, 23, 30), tick=False)
    message = missed_call()
    assert send_message(message_id=message.pk) == "sent"
    ComplianceSettings.objects.create(business=number_a.business, textback_waits_for_quiet_hours=True)
    from telephony.models import Call

    Call.objects.update(started_at=timezone.now() - dt.timedelta(hours=2))  # outside the repeat-call window
    message = missed_call()
    assert send_message(message_id=message.pk) == "nothing to claim"
    message.refresh_from_db()
    assert message.next_attempt_at == _local("America/Los_Angeles", 2026, 11, 25, 8, 0)
    time_machine.move_to(_local("America/Los_Angeles", 2026, 11, 25, 8, 0), tick=False)
    assert send_message(message_id=message.pk) == "sent"  # claimed by the careful path once the window opens
    message.refresh_from_db()
    assert message.attempts == 1


@pytest.mark.django_db
def test_ledger_records_implied_consent_for_each_texted_call(number_a):
    message = missed_call()
    [event] = ledger(ConsentEvent.Kind.IMPLIED_BY_CALL)
    assert event.source_ref == message.idempotency_key.split(":", 1)[1] and event.call is not None


@pytest.mark.django_db
def test_other_business_ledger_does_not_suppress(number_a, number_b, tenant_b):
    consent_record(business=tenant_b.business, phone=CALLER, kind=ConsentEvent.Kind.OPT_OUT, raw_text="STOP")
    from compliance.suppression import suppression_reason

    assert suppression_reason(business_id=number_a.business_id, number=CALLER, kind="textback") is None
    assert suppression_reason(business_id=tenant_b.business.pk, number=CALLER, kind="textback") == "opted_out"

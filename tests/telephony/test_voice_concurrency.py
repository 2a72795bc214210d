"""The same webhook delivered several times at once (Twilio retries, two gunicorn workers): real transactions in
real threads, each with its own database connection."""

import threading

import pytest
from django.db import connection

from inbox.models import Contact, Conversation
from messaging.models import Message
from telephony.models import Call
from tests import twilio
from tests.numbers import CALLER, NUMBER_A


def run_concurrently(n: int, fn) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def worker(i):
        try:
            barrier.wait()
            results[i] = fn()
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_five_concurrent_replays_yield_one_call_and_one_text(number_a):
    call_sid = twilio.sid("CA")
    incoming = twilio.payload("voice_incoming", call_sid=call_sid, caller=CALLER, number=NUMBER_A)
    statuses = run_concurrently(5, lambda: twilio.post("/webhooks/twilio/voice/", incoming).status_code)
    assert statuses == [200] * 5
    dial = twilio.payload(
        "voice_dial_action",
        call_sid=call_sid,
        caller=CALLER,
        number=NUMBER_A,
        child_sid=twilio.sid("CA"),
        dial_status="no-answer",
        dial_duration="0",
    )
    responses = run_concurrently(5, lambda: twilio.post("/webhooks/twilio/voice/dial/", dial))
    assert [r.status_code for r in responses] == [200] * 5
    assert len({r.content for r in responses}) == 1  # every replay got the same answer
    assert Call.objects.filter(provider_call_id=call_sid).count() == 1
    assert Message.objects.filter(kind=Message.Kind.TEXTBACK).count() == 1
    assert Contact.objects.count() == 1 and Conversation.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_dial_result_and_status_callback_racing_make_one_missed_call(number_a):
    call_sid = twilio.sid("CA")
    twilio.post(
        "/webhooks/twilio/voice/", twilio.payload("voice_incoming", call_sid=call_sid, caller=CALLER, number=NUMBER_A)
    )
    dial = twilio.payload(
        "voice_dial_action",
        call_sid=call_sid,
        caller=CALLER,
        number=NUMBER_A,
        child_sid=twilio.sid("CA"),
        dial_status="no-answer",
        dial_duration="0",
    )
    status = twilio.payload("voice_status", call_sid=call_sid, caller=CALLER, number=NUMBER_A, call_status="completed")
    calls = [
        lambda: twilio.post("/webhooks/twilio/voice/dial/", dial),
        lambda: twilio.post("/webhooks/twilio/voice/status/", status),
    ] * 3
    counter = iter(range(6))
    lock = threading.Lock()

    def next_call():
        with lock:
            i = next(counter)
        return calls[i]().status_code

    assert sorted(run_concurrently(6, next_call)) == [200, 200, 200, 204, 204, 204]
    call = Call.objects.get(provider_call_id=call_sid)
    assert call.status == Call.Status.MISSED
    assert Message.objects.filter(kind=Message.Kind.TEXTBACK).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_different_calls_from_one_caller_at_once_text_once(number_a):
    """Two calls from the same caller landing together: the contact lock makes the second one a repeat."""
    sids = [twilio.sid("CA") for _ in range(4)]
    payloads = iter(
        twilio.payload(
            "voice_dial_action",
            call_sid=s,
            caller=CALLER,
            number=NUMBER_A,
            child_sid=twilio.sid("CA"),
            dial_status="busy",
            dial_duration="0",
        )
        for s in sids
    )
    lock = threading.Lock()

    def post():
        with lock:
            params = next(payloads)
        return twilio.post("/webhooks/twilio/voice/dial/", params).status_code

    assert run_concurrently(4, post) == [200] * 4
    assert Message.objects.filter(kind=Message.Kind.TEXTBACK).count() == 1
    assert Call.objects.filter(decision=Call.Decision.REPEAT).count() == 3
    assert Conversation.objects.get().repeat_call_count == 3

"""The sending engine against the fake Twilio API, through the real twilio client."""

import datetime as dt
import threading
import time
from email.utils import formatdate
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from inbox.models import Contact
from messaging.models import Message
from messaging.sending import MAX_ATTEMPTS, RESEND_ABSENT_AFTER, reconcile_message, send_message, sweep_outbound
from telephony.providers.twilio import TwilioProvider
from tests import twilio
from tests.factories import OutboundMessageFactory
from tests.numbers import CALLER, NUMBER_A

S = Message.Status


def missed_call() -> Message:
    call_sid, response = twilio.missed_call()
    assert response.status_code == 200
    return twilio.textback(call_sid)


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.mark.django_db(transaction=True)
def test_missed_call_sends_exactly_one_text_through_a_real_worker(number_a, fake_twilio, celery_worker):
    message = missed_call()
    wait_for(lambda: Message.objects.get(pk=message.pk).status == S.SENT)
    time.sleep(0.3)  # anything duplicated would arrive now
    [request] = fake_twilio.requests
    assert request["account_sid"] == twilio.ACCOUNT_SID
    assert request["To"] == CALLER and request["From"] == NUMBER_A
    assert request["Body"] == message.body and "Acme Plumbing" in request["Body"]
    assert request["StatusCallback"] == f"http://127.0.0.1:8000/webhooks/twilio/sms/status/?m={message.pk}"
    assert request["ValidityPeriod"] == "900"
    message.refresh_from_db()
    assert message.provider_message_id == request["sid"] and message.attempts == 1 and message.sent_at


@pytest.mark.django_db(transaction=True)
def test_lost_enqueue_is_sent_by_the_sweeper(number_a, fake_twilio, celery_worker):
    message = OutboundMessageFactory(
        phone_number=number_a, body="Hello from the sweeper", next_attempt_at=timezone.now() - dt.timedelta(seconds=5)
    )  # committed, but its task was never enqueued (as if Redis lost it)
    assert sweep_outbound()["requeued"] == 1
    wait_for(lambda: Message.objects.get(pk=message.pk).status == S.SENT)
    assert sweep_outbound()["requeued"] == 0
    assert [r["Body"] for r in fake_twilio.requests] == ["Hello from the sweeper"]


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_on_one_row_send_once(number_a, fake_twilio):
    message = missed_call()
    fake_twilio.delay = 0.2
    barrier = threading.Barrier(4)
    outcomes = []

    def worker():
        barrier.wait()
        outcomes.append(send_message(message_id=message.pk))
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(outcomes) == ["nothing to claim"] * 3 + ["sent"]
    assert len(fake_twilio.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_two_sweepers_split_the_work(number_a, settings):
    """SKIP LOCKED: sweepers running at once never hand out the same row twice."""
    from unittest import mock

    rows = Message.objects.bulk_create(
        Message(
            business=number_a.business,
            direction="out",
            kind="reply",
            from_number=NUMBER_A,
            to_number=CALLER,
            body=f"m{i}",
            status=S.QUEUED,
            provider="twilio",
            next_attempt_at=timezone.now() - dt.timedelta(1),
        )
        for i in range(60)
    )
    enqueued = []
    barrier = threading.Barrier(3)

    def sweeper():
        barrier.wait()
        sweep_outbound()
        connection.close()

    with mock.patch("messaging.tasks.send_message_task.delay", side_effect=enqueued.append):
        threads = [threading.Thread(target=sweeper) for _ in range(3)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    assert sorted(enqueued) == sorted(r.pk for r in rows)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("code", "words"),
    [(21610, "opted out"), (21211, "not a valid phone number"), (30007, "filtered"), (30034, "not registered")],
)
def test_permanent_errors_fail_with_plain_language(number_a, fake_twilio, code, words):
    fake_twilio.then(("error", 400, code))
    message = missed_call()
    assert send_message(message_id=message.pk) == "failed"
    message.refresh_from_db()
    assert message.status == S.FAILED and message.error_code == str(code) and words in message.error_message
    assert message.next_attempt_at is None
    assert send_message(message_id=message.pk) == "nothing to claim"
    assert len(fake_twilio.requests) == 1
    assert Contact.objects.get(phone=CALLER).opted_out is (code == 21610)


@pytest.mark.django_db
@pytest.mark.parametrize("failure", [("error", 429, 20429), ("error", 500, 20500), ("error", 503, 20503)])
def test_transient_errors_retry_with_backoff_then_send(number_a, fake_twilio, failure):
    fake_twilio.then(failure)
    message = missed_call()
    assert send_message(message_id=message.pk) == "retry"
    message.refresh_from_db()
    assert message.status == S.QUEUED and message.attempts == 1
    delay = (message.next_attempt_at - timezone.now()).total_seconds()
    assert 0.2 < delay <= 1.0  # first backoff: 0.5-1 s with jitter
    assert send_message(message_id=message.pk) == "nothing to claim"  # not due yet
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert send_message(message_id=message.pk) == "sent"
    message.refresh_from_db()
    assert message.status == S.SENT and message.attempts == 2 and message.error_code == ""
    assert len(fake_twilio.requests) == 2 and len(fake_twilio.accepted) == 1


@pytest.mark.django_db
def test_retries_are_bounded(number_a, fake_twilio):
    fake_twilio.then(*[("error", 500, 20500)] * 10)
    message = missed_call()
    outcomes = []
    for _ in range(8):
        Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
        outcomes.append(send_message(message_id=message.pk))
    assert outcomes == ["retry"] * 4 + ["failed"] + ["nothing to claim"] * 3
    message.refresh_from_db()
    assert message.status == S.FAILED and message.error_code == "exhausted" and message.error_message
    assert len(fake_twilio.requests) == 5


@pytest.mark.django_db
def test_timeout_after_sending_is_unknown_and_reconciled_not_resent(number_a, fake_twilio):
    fake_twilio.then(("accept_then_hang", 2.0))
    message = missed_call()
    assert send_message(message_id=message.pk) == "unknown"
    message.refresh_from_db()
    assert message.status == S.UNKNOWN and message.provider_message_id is None
    assert send_message(message_id=message.pk) == "nothing to claim"  # never resent blindly
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert reconcile_message(message_id=message.pk) == "reconciled: sent"
    message.refresh_from_db()
    assert message.status == S.SENT and message.provider_message_id == fake_twilio.accepted[0]["sid"]
    assert len(fake_twilio.requests) == 1


@pytest.mark.django_db
def test_timeout_reconciled_by_the_status_callback(number_a, fake_twilio):
    fake_twilio.then(("accept_then_hang", 2.0))
    message = missed_call()
    send_message(message_id=message.pk)
    sid = fake_twilio.accepted[0]["sid"]
    params = {
        "AccountSid": twilio.ACCOUNT_SID,
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": "delivered",
        "To": CALLER,
        "From": NUMBER_A,
        "ApiVersion": "2010-04-01",
    }
    assert twilio.post(f"/webhooks/twilio/sms/status/?m={message.pk}", params).status_code == 204
    message.refresh_from_db()
    assert message.status == S.DELIVERED and message.provider_message_id == sid


@pytest.mark.django_db
def test_send_the_carrier_never_received_is_queued_again(number_a, fake_twilio):
    """Absent from the carrier's listing long after the attempt: the request never arrived, so it is sent again
    (through the claim); absent just after the attempt proves nothing yet."""
    fake_twilio.then(("hang", 2.0))  # Twilio "never accepted" it (the fake answers late with a 503)
    message = missed_call()
    assert send_message(message_id=message.pk) == "unknown"
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert reconcile_message(message_id=message.pk) == "reconcile later"
    Message.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now(), sending_at=timezone.now() - RESEND_ABSENT_AFTER - dt.timedelta(seconds=1)
    )
    assert reconcile_message(message_id=message.pk) == "reconciled: not at the carrier, queued again"
    message.refresh_from_db()
    assert message.status == S.QUEUED and "sending it again" in message.error_message
    assert send_message(message_id=message.pk) == "sent"
    assert send_message(message_id=message.pk) == "nothing to claim"
    assert len(fake_twilio.requests) == 2 and len(fake_twilio.accepted) == 1


def _listed_at_twilio(fake_twilio, message, body: str) -> None:
    """Another message from our number to the caller, as Twilio would list it."""
    now = formatdate(usegmt=True)
    fake_twilio.accepted.append(
        {
            "sid": twilio.sid("SM"),
            "account_sid": twilio.ACCOUNT_SID,
            "to": message.to_number,
            "from": message.from_number,
            "body": body,
            "status": "delivered",
            "direction": "outbound-api",
            "date_created": now,
            "date_updated": now,
            "date_sent": now,
        }
    )


@pytest.mark.django_db
def test_unclear_listing_is_not_resent(number_a, fake_twilio):
    """The carrier lists other texts to the caller but none with this body (Smart Encoding may have rewritten it):
    absence is no proof, so it ends unconfirmed for a person rather than risk a second text."""
    fake_twilio.then(("hang", 2.0))
    message = missed_call()
    assert send_message(message_id=message.pk) == "unknown"
    _listed_at_twilio(fake_twilio, message, "Thanks, we will call you at 3.")
    _listed_at_twilio(fake_twilio, message, "Reply HELP for help.")
    Message.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now(), sending_at=timezone.now() - RESEND_ABSENT_AFTER - dt.timedelta(seconds=1)
    )
    assert reconcile_message(message_id=message.pk) == "reconciled: unclear at the carrier, unconfirmed"
    message.refresh_from_db()
    assert message.status == S.FAILED and "not resent" in message.error_message
    assert send_message(message_id=message.pk) == "nothing to claim" and len(fake_twilio.requests) == 1


@pytest.mark.django_db
def test_absent_send_without_attempts_left_ends_unconfirmed(number_a, fake_twilio):
    fake_twilio.then(("hang", 2.0))
    message = missed_call()
    assert send_message(message_id=message.pk) == "unknown"
    Message.objects.filter(pk=message.pk).update(
        attempts=MAX_ATTEMPTS,
        next_attempt_at=timezone.now(),
        sending_at=timezone.now() - RESEND_ABSENT_AFTER - dt.timedelta(seconds=1),
    )
    assert reconcile_message(message_id=message.pk) == "reconciled: unconfirmed"
    assert Message.objects.get(pk=message.pk).status == S.FAILED and len(fake_twilio.requests) == 1


@pytest.mark.django_db
def test_unconfirmed_send_is_never_resent_and_ends_failed_for_a_person(number_a, fake_twilio):
    """When the carrier cannot be asked, absence proves nothing: after an hour it ends failed for a person."""
    fake_twilio.then(("hang", 2.0))
    message = missed_call()
    assert send_message(message_id=message.pk) == "unknown"
    Message.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now(), sending_at=timezone.now() - dt.timedelta(hours=2)
    )
    with mock.patch.object(TwilioProvider, "lookup_message", side_effect=ConnectionError("carrier API down")):
        assert reconcile_message(message_id=message.pk) == "reconciled: unconfirmed"
    message.refresh_from_db()
    assert message.status == S.FAILED and "not resent" in message.error_message
    assert send_message(message_id=message.pk) == "nothing to claim"
    assert fake_twilio.accepted == []


@pytest.mark.django_db
def test_lookup_finds_a_message_still_queued_at_twilio(number_a, fake_twilio):
    """A message Twilio accepted but has not sent yet has no DateSent: the lookup must still find it."""
    fake_twilio.then(("accept_then_hang", 2.0))
    message = missed_call()
    assert send_message(message_id=message.pk) == "unknown"
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert reconcile_message(message_id=message.pk) == "reconciled: sent"
    assert len(fake_twilio.requests) == 1


@pytest.mark.django_db
def test_unreadable_credentials_fail_visibly(number_a, fake_twilio):
    from telephony.models import CarrierCredential

    CarrierCredential.objects.filter(business=number_a.business).update(auth_token_encrypted="garbage")
    message = missed_call_via_service(number_a)
    assert send_message(message_id=message.pk) == "failed"
    message.refresh_from_db()
    assert message.error_code == "bad_creds"
    assert "cannot be read" in message.error_message and fake_twilio.requests == []


def missed_call_via_service(number):
    """A queued text-back without going through the webhook (whose signature check needs the token)."""
    return OutboundMessageFactory(phone_number=number, kind="textback", body="Sorry we missed you")


@pytest.mark.django_db
def test_opted_out_number_is_never_sent(number_a, fake_twilio):
    from compliance.models import ConsentEvent
    from compliance.services import consent_record

    message = missed_call()
    Message.objects.filter(pk=message.pk).update(status=S.SENDING)  # claimed before the opt-out could fail it
    consent_record(business=number_a.business, phone=CALLER, kind=ConsentEvent.Kind.OPT_OUT, raw_text="STOP")
    Message.objects.filter(pk=message.pk).update(status=S.QUEUED)  # as if it were queued again for a retry
    assert send_message(message_id=message.pk) == "nothing to claim"
    message.refresh_from_db()
    assert message.status == S.FAILED and message.error_message == "Recipient opted out; not sent."
    assert message.attempts == 0 and message.sending_at is None  # checked under the claim, never attempted
    assert fake_twilio.requests == []


@pytest.mark.django_db
def test_stuck_sending_row_becomes_unknown_not_resent(number_a, fake_twilio):
    message = missed_call()
    Message.objects.filter(pk=message.pk).update(status=S.SENDING, sending_at=timezone.now() - dt.timedelta(hours=1))
    assert sweep_outbound()["stuck"] == 1
    message.refresh_from_db()
    assert message.status == S.UNKNOWN
    assert fake_twilio.requests == []


@pytest.mark.django_db
def test_missing_credentials_fail_visibly(tenant_a, fake_twilio):
    from telephony.models import PhoneNumber
    from tests.numbers import always_open

    always_open(tenant_a.business)
    number = PhoneNumber.objects.create(
        business=tenant_a.business, e164=NUMBER_A, provider="twilio", forward_to="+14155551234"
    )
    message = OutboundMessageFactory(phone_number=number, body="hi")
    assert send_message(message_id=message.pk) == "failed"
    message.refresh_from_db()
    assert message.error_message == "No carrier account is connected for this number."


@pytest.mark.django_db
def test_a_late_acceptance_never_moves_the_conversations_last_outbound_time_back(number_a, fake_twilio):
    from inbox.models import Conversation

    message = missed_call()
    later = timezone.now() + dt.timedelta(minutes=5)  # an operator's reply committed while this one was in flight
    Conversation.objects.filter(pk=message.conversation_id).update(last_outbound_at=later)
    assert send_message(message_id=message.pk) == "sent"
    assert Conversation.objects.get(pk=message.conversation_id).last_outbound_at == later

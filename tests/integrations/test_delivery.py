"""The outbound webhook worker against a real local receiver: signatures checked with an independent HMAC,
the retry schedule on 5xx and timeouts, giving up after 24 hours with the owners told, no double delivery."""

import datetime as dt
import hashlib
import hmac
import json
import threading
import time
from pathlib import Path
from unittest import mock

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.utils import timezone

from compliance.models import AuditEvent
from inbox.actions import conversation_book
from integrations.delivery import deliver, notify_owners, sweep
from integrations.models import WebhookDelivery, WebhookEndpoint
from integrations.outbound import emit
from integrations.services import endpoint_create
from tests import twilio
from tests.factories import ConversationFactory
from tests.numbers import CALLER, NUMBER_A

S = WebhookDelivery.Status
ALL_EVENTS = ["call.missed", "conversation.created", "conversation.booked"]


def make_endpoint(tenant, url: str, *, kind: str = "webhook", events=ALL_EVENTS) -> tuple[WebhookEndpoint, str]:
    return endpoint_create(business=tenant.business, kind=kind, url=url, events=events, actor=tenant.owner)


def queue_event(tenant, endpoint) -> WebhookDelivery:
    [row] = emit(business_id=tenant.business.pk, event_type="call.missed", data={"call": {"id": 1}})
    return row


@pytest.mark.django_db
def test_a_missed_call_is_delivered_signed_and_the_signature_checks_out(number_a, tenant_a, receiver):
    endpoint, secret = make_endpoint(tenant_a, receiver.url)
    assert secret.startswith("whsec_") and secret not in endpoint.secret_encrypted  # encrypted at rest
    _, response = twilio.missed_call()
    assert response.status_code == 200
    missed = WebhookDelivery.objects.get(event_type="call.missed")

    assert deliver(delivery_id=missed.pk) == "delivered"

    [request] = [r for r in receiver.requests if r["headers"]["X-SecondDesk-Event"] == "call.missed"]
    headers, body = request["headers"], request["body"]
    # independent check, exactly as the docs tell a receiver to do it
    timestamp = headers["X-SecondDesk-Timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-SecondDesk-Signature"], "v1=" + expected)
    assert abs(int(timestamp) - timezone.now().timestamp()) < 60
    payload = json.loads(body)
    assert set(payload) == {"id", "type", "created_at", "business", "data"}
    assert payload["id"] == headers["X-SecondDesk-Id"] == str(missed.event_id)
    assert payload["type"] == "call.missed" and payload["business"] == "acme"
    assert payload["data"]["call"]["caller"] == CALLER and payload["data"]["call"]["to"] == NUMBER_A
    assert payload["data"]["call"]["texted"] is True and payload["data"]["conversation_id"]
    missed.refresh_from_db()
    assert missed.status == S.DELIVERED and missed.response_code == 200 and missed.response_excerpt == "ok"
    assert missed.attempts == 1 and missed.delivered_at


@pytest.mark.django_db
def test_a_wrong_secret_does_not_verify(tenant_a, receiver):
    endpoint, _ = make_endpoint(tenant_a, receiver.url)
    deliver(delivery_id=queue_event(tenant_a, endpoint).pk)
    [request] = receiver.requests
    forged = hmac.new(
        b"whsec_wrong", request["headers"]["X-SecondDesk-Timestamp"].encode() + b"." + request["body"], hashlib.sha256
    ).hexdigest()
    assert request["headers"]["X-SecondDesk-Signature"] != "v1=" + forged


def _retry_in(delivery: WebhookDelivery, low: float, high: float, now: dt.datetime) -> None:
    delivery.refresh_from_db()
    assert delivery.status == S.PENDING
    wait = (delivery.next_attempt_at - now).total_seconds()
    assert low - 1 <= wait <= high + 1, wait


@pytest.mark.django_db
def test_5xx_and_timeouts_retry_with_backoff_then_fail_after_24_hours_and_the_owner_is_told(
    tenant_a, receiver, settings
):
    settings.WEBHOOKS_TIMEOUT = (1.0, 0.3)
    endpoint, _ = make_endpoint(tenant_a, receiver.url)
    start = timezone.now()
    with time_machine.travel(start, tick=True) as traveller:
        delivery = queue_event(tenant_a, endpoint)
        receiver.reply(503, "down for maintenance")
        assert deliver(delivery_id=delivery.pk) == "retry"
        _retry_in(delivery, 15, 30, timezone.now())  # 30 s base, jitter in [base/2, base]
        assert delivery.response_code == 503 and delivery.response_excerpt == "down for maintenance"
        assert deliver(delivery_id=delivery.pk) == "nothing to claim"  # not due yet

        traveller.move_to(delivery.next_attempt_at)
        receiver.reply(200, "late", delay=1.0)  # longer than the read timeout
        assert deliver(delivery_id=delivery.pk) == "retry"
        _retry_in(delivery, 30, 60, timezone.now())
        assert "did not answer in time" in delivery.error and delivery.response_code is None

        traveller.move_to(delivery.next_attempt_at)
        receiver.reply(502)
        assert deliver(delivery_id=delivery.pk) == "retry"
        _retry_in(delivery, 60, 120, timezone.now())

        # ... and the delay is capped at an hour however many attempts there were
        WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=20)
        traveller.move_to(delivery.next_attempt_at)
        receiver.reply(500)
        deliver(delivery_id=delivery.pk)
        _retry_in(delivery, 1800, 3600, timezone.now())

        # 24 hours after the event the next failure is final
        traveller.move_to(delivery.give_up_at - dt.timedelta(minutes=10))
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        receiver.reply(500, "still down")
        with (
            mock.patch(
                "integrations.tasks.notify_owners_task.delay", side_effect=lambda pk: notify_owners(delivery_id=pk)
            ),
            mock.patch("django.db.transaction.on_commit", side_effect=lambda fn, **kw: fn()),
        ):
            assert deliver(delivery_id=delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert delivery.status == S.FAILED and "24 hours" in delivery.error and delivery.next_attempt_at is None
    assert len(receiver.requests) == 5
    assert {r["headers"]["X-SecondDesk-Id"] for r in receiver.requests} == {str(delivery.event_id)}
    [email] = mail.outbox
    assert email.to == ["owner@acme.test"] and "failing" in email.subject
    assert f"/app/acme/settings/webhooks/{endpoint.pk}/" in email.body
    assert AuditEvent.objects.filter(business=tenant_a.business, action="webhook.failed").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (400, "failed"),
        (404, "failed"),
        (410, "failed"),
        (408, "retry"),
        (429, "retry"),
        (500, "retry"),
        (302, "failed"),
    ],
)
def test_client_errors_fail_at_once_except_408_and_429(tenant_a, receiver, code, outcome):
    endpoint, _ = make_endpoint(tenant_a, receiver.url)
    delivery = queue_event(tenant_a, endpoint)
    receiver.reply(code, "nope")
    with mock.patch("integrations.tasks.notify_owners_task.delay"):
        assert deliver(delivery_id=delivery.pk) == outcome
    delivery.refresh_from_db()
    assert delivery.response_code == code and str(code) in delivery.error


@pytest.mark.django_db
def test_connection_refused_is_retried(tenant_a, receiver):
    endpoint, _ = make_endpoint(tenant_a, "http://127.0.0.1:9/nothing-listens-here")
    delivery = queue_event(tenant_a, endpoint)
    assert deliver(delivery_id=delivery.pk) == "retry"
    delivery.refresh_from_db()
    assert "Could not connect" in delivery.error


@pytest.mark.django_db(transaction=True)
def test_sweepers_and_duplicate_tasks_running_at_once_never_deliver_twice(tenant_a, receiver):
    endpoint, _ = make_endpoint(tenant_a, receiver.url)
    rows = [queue_event(tenant_a, endpoint) for _ in range(24)]
    WebhookDelivery.objects.update(next_attempt_at=timezone.now() - dt.timedelta(minutes=1))  # the ring was lost
    barrier = threading.Barrier(4)

    def worker():
        barrier.wait()
        try:
            sweep()
            for row in rows:  # and every row rung again by a second task
                deliver(delivery_id=row.pk)
        finally:
            connection.close()

    with mock.patch("integrations.tasks.deliver_webhook_task.delay", side_effect=lambda pk: deliver(delivery_id=pk)):
        threads = [threading.Thread(target=worker) for _ in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    ids = [r["headers"]["X-SecondDesk-Id"] for r in receiver.requests]
    assert sorted(ids) == sorted(str(r.event_id) for r in rows)  # each event exactly once
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {S.DELIVERED}
    assert sweep() == {"requeued": 0, "stuck": 0}


@pytest.mark.django_db
def test_a_row_left_sending_by_a_dead_worker_is_sent_again_with_the_same_event_id(tenant_a, receiver):
    endpoint, _ = make_endpoint(tenant_a, receiver.url)
    delivery = queue_event(tenant_a, endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=S.SENDING, sending_at=timezone.now() - dt.timedelta(minutes=5), attempts=1
    )
    with mock.patch("django.db.transaction.on_commit"):
        assert sweep()["stuck"] == 1
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))
    assert deliver(delivery_id=delivery.pk) == "delivered"
    assert receiver.requests[0]["headers"]["X-SecondDesk-Id"] == str(delivery.event_id)


@pytest.mark.django_db
def test_slack_gets_readable_text_unsigned_and_only_the_events_it_hears_about(tenant_a, receiver):
    endpoint = WebhookEndpoint.objects.create(
        business=tenant_a.business, kind="slack", url=receiver.url, events=["conversation.booked", "call.missed"]
    )
    assert emit(business_id=tenant_a.business.pk, event_type="call.missed", data={}) == []
    conversation = ConversationFactory(contact__business=tenant_a.business)
    conversation_book(conversation=conversation, value=450, actor=tenant_a.owner)
    [row] = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert deliver(delivery_id=row.pk) == "delivered"
    [request] = receiver.requests
    text = json.loads(request["body"])["text"]
    assert "Job booked" in text and "$450" in text
    assert f"/app/acme/conversations/{conversation.pk}/|Open in SecondDesk>" in text
    assert "X-SecondDesk-Signature" not in request["headers"]


@pytest.mark.django_db
def test_emit_without_endpoints_is_one_query(tenant_a, django_assert_num_queries):
    built = mock.Mock(return_value={})
    with django_assert_num_queries(1):
        assert emit(business_id=tenant_a.business.pk, event_type="call.missed", data=built) == []
    built.assert_not_called()


@pytest.mark.django_db
def test_the_verification_snippet_in_the_docs_accepts_a_real_delivery_and_refuses_a_tampered_one(tenant_a, receiver):
    docs = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    snippet = docs.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102  (our own documentation)
    endpoint, secret = make_endpoint(tenant_a, receiver.url)
    deliver(delivery_id=queue_event(tenant_a, endpoint).pk)
    [request] = receiver.requests
    assert namespace["verify"](secret, request["headers"], request["body"])
    assert not namespace["verify"](secret, request["headers"], request["body"].replace(b"acme", b"acmf"))


@pytest.mark.django_db
def test_owners_hear_about_failures_at_most_once_a_day_per_endpoint(tenant_a, receiver):
    endpoint, _ = make_endpoint(tenant_a, receiver.url)
    rows = [queue_event(tenant_a, endpoint) for _ in range(3)]
    with (
        mock.patch("integrations.tasks.notify_owners_task.delay", side_effect=lambda pk: notify_owners(delivery_id=pk)),
        mock.patch("django.db.transaction.on_commit", side_effect=lambda fn, **kw: fn()),
    ):
        for row in rows:
            receiver.reply(410, "gone")
            assert deliver(delivery_id=row.pk) == "failed"
    assert len(mail.outbox) == 1
    assert AuditEvent.objects.filter(action="webhook.failed").count() == 3


@pytest.mark.django_db
def test_a_paused_endpoint_gets_nothing_and_nobody_is_emailed(tenant_a, receiver):
    endpoint, _ = make_endpoint(tenant_a, receiver.url)
    delivery = queue_event(tenant_a, endpoint)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False)
    with mock.patch("integrations.tasks.notify_owners_task.delay") as notify:
        assert deliver(delivery_id=delivery.pk) == "failed"
    notify.assert_not_called()
    assert receiver.requests == []


@pytest.mark.django_db(transaction=True)
def test_a_missed_call_reaches_the_receiver_through_a_real_worker(
    number_a, tenant_a, receiver, fake_twilio, celery_worker
):
    """The row is written with the call and the task rung on commit: no sweeper needed on the happy path."""
    make_endpoint(tenant_a, receiver.url, events=["call.missed"])
    twilio.missed_call()
    deadline = time.monotonic() + 10
    while not receiver.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # anything duplicated would arrive now
    [request] = receiver.requests
    assert request["headers"]["X-SecondDesk-Event"] == "call.missed"
    assert WebhookDelivery.objects.get().status == S.DELIVERED

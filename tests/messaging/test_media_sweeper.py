"""Inbound MMS media is work that must happen: a row first (media_pending), a fetch rung on commit, and a sweeper
for fetches that were lost or failed (messaging.media)."""

import datetime as dt
import threading

import pytest
import requests
from django.db import connection, transaction

from messaging import media as media_module
from messaging.media import GAVE_UP, fetch_media, sweep_media
from messaging.models import Message
from tests import twilio
from tests.numbers import CALLER, NUMBER_A


def mms(fake_twilio, items: int = 1) -> Message:
    """An inbound MMS through the real webhook, with `items` photos at the fake carrier."""
    sid = twilio.sid("MM")
    params = twilio.payload("sms_inbound", message_sid=sid, body="{body}", caller=CALLER, number=NUMBER_A)
    params["Body"] = "photo of the leak"
    params["NumMedia"] = str(items)
    base = f"{fake_twilio.base_url}/2010-04-01/Accounts/{twilio.ACCOUNT_SID}/Messages/{sid}/Media"
    for i in range(items):
        params[f"MediaUrl{i}"] = f"{base}/ME{i:032x}"
        params[f"MediaContentType{i}"] = "image/png"
    assert twilio.post("/webhooks/twilio/sms/", params).status_code == 200
    return Message.objects.get(provider_message_id=sid)


@pytest.fixture
def rung(monkeypatch):
    """The ids of the fetches the sweeper enqueues (after its commit)."""
    from messaging.tasks import fetch_media_task

    ids = []
    monkeypatch.setattr(fetch_media_task, "delay", ids.append)
    return ids


@pytest.mark.django_db
def test_an_mms_is_pending_until_every_item_is_stored(number_a, fake_twilio):
    message = mms(fake_twilio, items=2)
    assert message.media_pending
    fetch_media(message_id=message.pk)
    message.refresh_from_db()
    assert not message.media_pending and all(item["stored"] for item in message.media)


@pytest.mark.django_db
def test_a_lost_fetch_is_rung_again_after_the_grace_and_at_most_every_interval(
    number_a, fake_twilio, rung, django_capture_on_commit_callbacks
):
    message = mms(fake_twilio)
    rung.clear()  # the webhook's own ring on commit is the one that was "lost"
    at = message.created_at

    def sweep(after: dt.timedelta) -> dict:
        with django_capture_on_commit_callbacks(execute=True):
            return sweep_media(now=at + after)

    assert sweep(dt.timedelta(seconds=30)) == {"requeued": 0, "gave_up": 0}  # the first fetch's turn
    assert sweep(dt.timedelta(minutes=2)) == {"requeued": 1, "gave_up": 0} and rung == [message.pk]
    assert sweep(dt.timedelta(minutes=3))["requeued"] == 0  # rung two minutes ago
    assert sweep(dt.timedelta(minutes=8))["requeued"] == 1 and rung == [message.pk, message.pk]
    fetch_media(message_id=message.pk)
    assert sweep(dt.timedelta(minutes=20))["requeued"] == 0
    message.refresh_from_db()
    assert message.media[0]["stored"] and not message.media_pending


@pytest.mark.django_db
def test_a_carrier_failure_keeps_what_was_stored_and_leaves_the_rest_for_later(number_a, fake_twilio, monkeypatch):
    message = mms(fake_twilio, items=2)
    real_get = requests.get

    def second_item_times_out(url, **kwargs):
        if url.endswith(f"ME{1:032x}"):
            raise requests.ConnectTimeout("carrier slow")
        return real_get(url, **kwargs)

    monkeypatch.setattr(media_module.requests, "get", second_item_times_out)
    media = fetch_media(message_id=message.pk)  # no exception: the sweeper retries, not Celery
    message.refresh_from_db()
    assert message.media == media and message.media_pending
    assert media[0]["stored"] and "stored" not in media[1] and "error" not in media[1]
    monkeypatch.setattr(media_module.requests, "get", real_get)
    fetch_media(message_id=message.pk)
    message.refresh_from_db()
    assert message.media[0]["stored"] == media[0]["stored"]  # the first item was not stored twice
    assert message.media[1]["stored"] and not message.media_pending


@pytest.mark.django_db
def test_media_still_missing_after_a_day_is_marked_not_stored(number_a, fake_twilio, rung):
    message = mms(fake_twilio)
    rung.clear()
    assert sweep_media(now=message.created_at + dt.timedelta(hours=25)) == {"requeued": 0, "gave_up": 1}
    message.refresh_from_db()
    assert message.media[0]["error"] == GAVE_UP and not message.media_pending and rung == []


@pytest.mark.django_db(transaction=True)
def test_a_fetch_in_progress_is_left_alone_by_sweepers_and_other_fetches(number_a, fake_twilio, rung):
    """Real transactions: while one holds the row (a fetch downloading), a second fetch returns at once and the
    sweeper takes nothing; afterwards the sweeper takes it."""
    message = mms(fake_twilio)
    rung.clear()
    holding, release = threading.Event(), threading.Event()

    def fetch_in_progress() -> None:
        try:
            with transaction.atomic():
                Message.objects.select_for_update().get(pk=message.pk)
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=fetch_in_progress)
    thread.start()
    try:
        assert holding.wait(10)
        assert fetch_media(message_id=message.pk) is None
        assert sweep_media(now=message.created_at + dt.timedelta(minutes=2))["requeued"] == 0
    finally:
        release.set()
        thread.join(10)
    assert sweep_media(now=message.created_at + dt.timedelta(minutes=2))["requeued"] == 1
    assert rung == [message.pk]

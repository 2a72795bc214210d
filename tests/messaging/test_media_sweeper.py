"""Inbound MMS media is work that must happen: a row first (media_pending), a fetch rung on commit, and a sweeper
for fetches that were lost or failed (messaging.media)."""

import datetime as dt

import pytest
import requests
import urllib3
from django.core.files.storage import default_storage
from django.db import connection

from messaging import media as media_module
from messaging.media import GAVE_UP, fetch_media, sweep_media
from messaging.models import Message
from tests import twilio
from tests.concurrency import held_elsewhere
from tests.numbers import CALLER, NUMBER_A


def mms(fake_twilio, items: int = 1) -> Message:
    """An inbound MMS through the real webhook, with `items` photos at the fake carrier."""
    sid = twilio.sid("MM")
    params = twilio.payload("sms_inbound", message_sid=sid, body="photo of the leak", caller=CALLER, number=NUMBER_A)
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


class _Response:
    """Just enough of a streamed requests response."""

    def __init__(self, status_code: int, read):
        self.status_code = status_code
        self.raw = type("Raw", (), {"read": staticmethod(read)})()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _broken_body(*args, **kwargs):
    raise urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("first", "error"),
    [
        (_Response(404, _broken_body), "not stored: the carrier answered 404"),  # gone at the carrier: for good
        (_Response(200, _broken_body), None),  # the body broke off: try again later
        (_Response(503, _broken_body), None),
    ],
)
def test_a_failing_item_does_not_stop_the_others(number_a, fake_twilio, monkeypatch, first, error):
    message = mms(fake_twilio, items=2)
    real_get = requests.get
    monkeypatch.setattr(
        media_module.requests, "get", lambda url, **kw: first if url.endswith(f"ME{0:032x}") else real_get(url, **kw)
    )
    media = fetch_media(message_id=message.pk)
    message.refresh_from_db()
    assert media[1]["stored"] and "stored" not in media[0]
    assert media[0].get("error") == error and message.media_pending is (error is None)


@pytest.mark.django_db
def test_an_erasure_during_the_download_wins_and_the_file_is_deleted(number_a, fake_twilio, monkeypatch):
    message = mms(fake_twilio)
    real_get = requests.get
    saved = []

    def erased_meanwhile(url, **kwargs):
        Message.objects.filter(pk=message.pk).update(media=[], body="")  # what erasure leaves
        return real_get(url, **kwargs)

    monkeypatch.setattr(media_module.requests, "get", erased_meanwhile)
    real_save = default_storage.save
    monkeypatch.setattr(
        default_storage, "save", lambda name, content: saved.append(real_save(name, content)) or saved[-1]
    )
    assert fetch_media(message_id=message.pk) is None
    message.refresh_from_db()
    assert message.media == [] and saved and not default_storage.exists(saved[0])


@pytest.mark.django_db
def test_the_sweeper_backs_off_with_the_messages_age(number_a, fake_twilio, rung, django_capture_on_commit_callbacks):
    message = mms(fake_twilio)
    rung.clear()
    two_hours = message.created_at + dt.timedelta(hours=2)
    Message.objects.filter(pk=message.pk).update(swept_at=two_hours - dt.timedelta(minutes=20))
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_media(now=two_hours)["requeued"] == 0  # at two hours old, every 30 minutes
        assert sweep_media(now=two_hours + dt.timedelta(minutes=15))["requeued"] == 1  # 35 min since, age/4 is 34
    assert rung == [message.pk]


@pytest.mark.django_db
def test_old_code_can_still_insert_messages_during_a_deploy():
    """The column has a database default: an INSERT that does not name it (the previous release) works."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_default, is_nullable FROM information_schema.columns "
            "WHERE table_name = 'messaging_message' AND column_name = 'media_pending'"
        )
        assert cursor.fetchone() == ("false", "NO")


@pytest.mark.django_db(transaction=True)
def test_one_fetch_of_a_message_at_a_time(number_a, fake_twilio):
    """Real sessions: while one fetch holds the message's advisory lock (downloading), a second returns at once
    without touching the row; once it is released, a fetch runs."""
    from messaging.media import _FETCH_LOCK_SPACE

    message = mms(fake_twilio)

    def fetching() -> None:  # what a running fetch holds (the transaction-level twin of its session lock)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_FETCH_LOCK_SPACE | message.pk])

    with held_elsewhere(fetching):
        assert fetch_media(message_id=message.pk) is None
        assert Message.objects.get(pk=message.pk).media_pending
    assert fetch_media(message_id=message.pk)[0]["stored"]
    assert not Message.objects.get(pk=message.pk).media_pending


@pytest.mark.django_db(transaction=True)
def test_two_sweepers_split_the_work(number_a, fake_twilio, rung):
    """A row another sweeper holds (FOR UPDATE) is left to it, not waited for."""
    first, second = mms(fake_twilio), mms(fake_twilio)
    rung.clear()
    with held_elsewhere(lambda: Message.objects.select_for_update().get(pk=first.pk)):
        assert sweep_media(now=second.created_at + dt.timedelta(minutes=2))["requeued"] == 1
    assert rung == [second.pk]

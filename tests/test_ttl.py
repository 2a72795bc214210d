import re

import pytest

from secdesk.ttl import TTLCache
from tests import twilio
from tests.numbers import CALLER, NUMBER_A


def test_ttl_cache_reuses_within_lifetime_and_disables_at_zero(settings):
    settings.TELEPHONY_CONFIG_CACHE_SECONDS = 2
    cache = TTLCache("TELEPHONY_CONFIG_CACHE_SECONDS")
    loads = []
    load = lambda: loads.append(1) or len(loads)  # noqa: E731
    assert cache.get("k", load) == 1
    assert cache.get("k", load) == 1
    settings.TELEPHONY_CONFIG_CACHE_SECONDS = 0
    assert cache.get("k", load) == 2  # disabled: always loads


def test_ttl_cache_expires(settings, monkeypatch):
    import secdesk.ttl

    clock = [100.0]
    monkeypatch.setattr(secdesk.ttl.time, "monotonic", lambda: clock[0])
    settings.TELEPHONY_CONFIG_CACHE_SECONDS = 2
    cache = TTLCache("TELEPHONY_CONFIG_CACHE_SECONDS")
    values = iter(["old", "new"])
    assert cache.get("k", lambda: next(values)) == "old"
    clock[0] += 1.9
    assert cache.get("k", lambda: next(values)) == "old"
    clock[0] += 0.2
    assert cache.get("k", lambda: next(values)) == "new"


@pytest.mark.django_db
def test_webhooks_work_with_the_config_cache_on(number_a, config_cached, django_assert_max_num_queries):
    """With the cache on, a second call to the same number skips the number and token queries."""
    first = twilio.payload("voice_incoming", call_sid=twilio.sid("CA"), caller=CALLER, number=NUMBER_A)
    assert twilio.post("/webhooks/twilio/voice/", first).status_code == 200
    second = twilio.payload("voice_incoming", call_sid=twilio.sid("CA"), caller=CALLER, number=NUMBER_A)
    with django_assert_max_num_queries(3):  # savepoint, upsert, release: no config lookups
        assert twilio.post("/webhooks/twilio/voice/", second).status_code == 200


@pytest.fixture
def config_cached(settings):
    """The per-process configuration caches on, as in production, and empty before and after."""
    from inbox import notifications
    from integrations import outbound
    from messaging import sending
    from telephony import selectors, services
    from telephony.providers import twilio as twilio_provider

    caches = [
        services._numbers,
        twilio_provider._tokens,
        selectors._insiders,
        notifications._teams,
        outbound._has_endpoints,
        sending._credentials,
    ]
    settings.TELEPHONY_CONFIG_CACHE_SECONDS = 60
    for cache in caches:
        cache.clear()
    yield
    for cache in caches:
        cache.clear()


def _statements(captured) -> list[str]:
    """Each statement as its verb and table, e.g. "INSERT inbox_conversation"."""
    shapes = []
    for query in captured:
        sql = query["sql"]
        verb = sql.split(None, 1)[0].upper()
        if verb == "WITH":  # secdesk.orm.upsert and the other hand-written statements
            verb = "UPSERT" if " ON CONFLICT " in sql else "WITH"
        table = re.search(r'(?:INTO|UPDATE|FROM)\s+"?(\w+)"?', sql)
        shapes.append(f"{verb} {table.group(1)}" if table and verb != "SAVEPOINT" else verb)
    return shapes


@pytest.mark.django_db
def test_a_missed_call_costs_these_statements_and_no_more(number_a, config_cached):
    """The budget of the hottest path: a new caller's missed call, with the business's configuration cached. Each
    is a write that must happen; a lookup creeping back in (the contact's conversations, pending timers, the
    blocklist, the team) fails this test."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    number_a.mode = "forwarded"
    number_a.save()
    warm = twilio.payload("voice_incoming", call_sid=twilio.sid("CA"), caller="+14155550190", number=NUMBER_A)
    assert twilio.post("/webhooks/twilio/voice/", warm).status_code == 200
    call = twilio.payload("voice_incoming", call_sid=twilio.sid("CA"), caller=CALLER, number=NUMBER_A)
    with CaptureQueriesContext(connection) as captured:
        assert twilio.post("/webhooks/twilio/voice/", call).status_code == 200
    assert _statements(captured) == [
        "SAVEPOINT",
        "UPSERT telephony_call",  # created and locked; learns whether the caller is blocked
        "UPSERT inbox_contact",  # created and locked; learns about recent calls and earlier texts
        "INSERT inbox_conversation",
        "SELECT telephony_call",  # new-conversation alert: by a missed call or a first text?
        "INSERT inbox_notification",  # one row per member who wants it
        "INSERT inbox_timer",  # the answer-time target
        "INSERT intake_intakelink",
        "INSERT messaging_message",  # the text-back
        "UPSERT inbox_timer",  # the follow-up
        "INSERT compliance_consentevent",
        "UPDATE telephony_call",
        "RELEASE",
    ]


@pytest.mark.django_db
def test_a_send_costs_these_statements_and_no_more(number_a, fake_twilio, config_cached):
    """The worker's side: the claim is one conditional UPDATE (with the suppression check under it), then one
    statement each for the message and its conversation once the carrier took it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from messaging.sending import send_message
    from tests.factories import ContactFactory, ConversationFactory, OutboundMessageFactory

    warm = OutboundMessageFactory(phone_number=number_a, kind="textback", body="Sorry we missed you")
    assert send_message(message_id=warm.pk) == "sent"
    conversation = ConversationFactory(contact=ContactFactory(business=number_a.business, phone=CALLER))
    message = OutboundMessageFactory(
        phone_number=number_a, conversation=conversation, to_number=CALLER, kind="textback", body="Sorry we missed you"
    )
    with CaptureQueriesContext(connection) as captured:
        assert send_message(message_id=message.pk) == "sent"
    assert _statements(captured) == [
        "SAVEPOINT",
        "UPDATE messaging_message",  # the claim
        "SELECT compliance_consentevent",  # suppression, under the claim
        "RELEASE",
        "UPDATE messaging_message",  # sent
        "UPDATE inbox_conversation",  # its last outbound time, after the message's own commit
    ]
    message.refresh_from_db()
    conversation.refresh_from_db()
    assert message.status == "sent" and message.attempts == 1 and conversation.last_outbound_at == message.sent_at

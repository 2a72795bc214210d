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
def test_webhooks_work_with_the_config_cache_on(number_a, settings, django_assert_max_num_queries):
    """With the cache on, a second call to the same number skips the number and token queries."""
    from telephony import services
    from telephony.providers import twilio as twilio_provider

    settings.TELEPHONY_CONFIG_CACHE_SECONDS = 60
    services._numbers.clear()
    twilio_provider._tokens.clear()
    try:
        first = twilio.payload("voice_incoming", call_sid=twilio.sid("CA"), caller=CALLER, number=NUMBER_A)
        assert twilio.post("/webhooks/twilio/voice/", first).status_code == 200
        second = twilio.payload("voice_incoming", call_sid=twilio.sid("CA"), caller=CALLER, number=NUMBER_A)
        with django_assert_max_num_queries(4):  # savepoint, upsert, lock, release: no config lookups
            assert twilio.post("/webhooks/twilio/voice/", second).status_code == 200
    finally:
        services._numbers.clear()
        twilio_provider._tokens.clear()

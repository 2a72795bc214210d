"""Shared fixtures: every test that touches tenancy builds two businesses with a user of each role."""

from dataclasses import dataclass

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from tenants.models import Business, Membership, User
from tests.factories import BusinessFactory, MembershipFactory, UserFactory


@dataclass
class Tenant:
    business: Business
    owner: User
    admin: User
    operator: User

    def user(self, role: str) -> User:
        return getattr(self, role)


def _make_tenant(name: str, slug: str) -> Tenant:
    business = BusinessFactory(name=name, slug=slug, display_name=name)
    users = {}
    for role in Membership.Role.values:
        users[role] = UserFactory(email=f"{role}@{slug}.test")
        MembershipFactory(business=business, user=users[role], role=role)
    return Tenant(business=business, **users)


@pytest.fixture
def tenant_a(db) -> Tenant:
    return _make_tenant("Acme Plumbing", "acme")


@pytest.fixture
def tenant_b(db) -> Tenant:
    return _make_tenant("Bolt Electric", "bolt")


@pytest.fixture
def client_for():
    """A logged-in test client for a user (force_login: no password hashing on the hot path)."""

    def make(user: User | None) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make


def _clear_own_cache_keys() -> None:
    """Delete this process's cache keys only: cache.clear() would flush the whole Redis database under other
    test processes running at the same time (xdist workers use their own key prefix)."""
    client = cache._cache.get_client(write=True)
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate-limit counters live in the cache (Redis); each test starts from zero."""
    _clear_own_cache_keys()
    yield
    _clear_own_cache_keys()


@pytest.fixture(autouse=True)
def _media_root(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def fake_twilio(settings):
    """The local fake of Twilio's REST API; the real twilio client is pointed at it."""
    from tests.fake_twilio import FakeTwilio

    fake = FakeTwilio().start()
    settings.TWILIO_API_BASE_URL = fake.base_url
    settings.TWILIO_TIMEOUT = (1.0, 1.0)
    yield fake
    fake.stop()


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker (threads, real Redis broker in this process's own keyspace) consuming both queues."""
    from celery.contrib.testing.worker import start_worker

    from secdesk.celery import app

    app.control.purge()
    with start_worker(
        app,
        pool="threads",
        concurrency=2,
        perform_ping_check=False,
        queues=["textback", "default"],
        shutdown_timeout=10,
    ) as worker:
        yield worker


@pytest.fixture
def number_a(tenant_a):
    """Tenant A's Twilio number in ring mode, with its own account, open around the clock."""
    from telephony.models import CarrierCredential, PhoneNumber
    from tests import twilio
    from tests.numbers import NUMBER_A, OWNER_MOBILE, always_open

    credential = CarrierCredential(business=tenant_a.business, provider="twilio", account_sid=twilio.ACCOUNT_SID)
    credential.auth_token = twilio.AUTH_TOKEN
    credential.save()
    always_open(tenant_a.business)
    return PhoneNumber.objects.create(
        business=tenant_a.business, e164=NUMBER_A, provider="twilio", mode="ring", forward_to=OWNER_MOBILE
    )


@pytest.fixture
def number_b(tenant_b):
    """Tenant B's number on a different Twilio account."""
    from telephony.models import CarrierCredential, PhoneNumber
    from tests.numbers import NUMBER_B, OTHER_ACCOUNT_SID, OTHER_AUTH_TOKEN, always_open

    credential = CarrierCredential(business=tenant_b.business, provider="twilio", account_sid=OTHER_ACCOUNT_SID)
    credential.auth_token = OTHER_AUTH_TOKEN
    credential.save()
    always_open(tenant_b.business)
    return PhoneNumber.objects.create(
        business=tenant_b.business, e164=NUMBER_B, provider="twilio", mode="ring", forward_to="+16505551212"
    )

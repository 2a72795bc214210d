"""Shared fixtures: every test that touches tenancy builds two businesses with a user of each role."""

from dataclasses import dataclass

import pytest
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


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate-limit counters live in the cache (Redis); each test starts from zero."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _media_root(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"

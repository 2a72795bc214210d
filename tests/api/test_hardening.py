"""Odd input and failures around the API: keys of people who are no longer owners, a down Redis, Unicode digits,
out-of-range ports."""

import pytest
from django.core.cache import cache

from tenants.models import Membership

pytestmark = pytest.mark.django_db


def test_a_key_stops_working_when_its_creator_is_no_longer_an_owner(world_a):
    client = world_a.client()
    assert client.get("/api/v1/calls/").status_code == 200
    membership = Membership.objects.get(business=world_a.tenant.business, user=world_a.tenant.owner)
    membership.role = Membership.Role.OPERATOR
    membership.save()
    assert client.get("/api/v1/calls/").status_code == 401
    membership.role = Membership.Role.OWNER
    membership.save()
    assert client.get("/api/v1/calls/").status_code == 200
    membership.delete()
    assert client.get("/api/v1/calls/").status_code == 401


def test_a_down_redis_does_not_fail_api_requests(world_a, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "set", down)
    assert world_a.client().get("/api/v1/conversations/").status_code == 200


def test_unicode_digits_are_a_400_not_a_500(world_a):
    response = world_a.client().get("/api/v1/conversations/", {"assignee": "²"})
    assert response.status_code == 400 and response.json()["error"]["fields"]


def test_an_out_of_range_port_is_refused(world_a, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    response = world_a.client().post_json(
        "/api/v1/webhook-endpoints/", {"url": "http://example.com:99999/", "events": ["call.missed"]}
    )
    assert response.status_code == 400
    assert "That port is not valid." in str(response.json()["error"]["fields"]["url"])  # not "does not resolve"

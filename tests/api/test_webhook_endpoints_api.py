"""/api/v1/webhook-endpoints/: the same rules as the settings page (public URLs only in production, the secret
shown once), and another business's key never sees or changes ours."""

import pytest

from integrations.models import WebhookEndpoint
from tests.api.conftest import ApiClient

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhook-endpoints/"


def test_create_list_pause_and_delete(world_a, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True  # the test receiver would be local; the address check is tested below
    client = world_a.client()
    created = client.post_json(URL, {"url": "https://crm.example.com/hooks", "events": ["call.missed"]})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["events"] == ["call.missed"]
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert endpoint.business == world_a.tenant.business and endpoint.secret == body["secret"]
    listed = client.get(URL).json()["results"]
    assert [row["id"] for row in listed] == [endpoint.pk] and "secret" not in listed[0]  # shown once only
    assert client.patch_json(f"{URL}{endpoint.pk}/", {"active": False}).json()["active"] is False
    assert client.delete(f"{URL}{endpoint.pk}/").status_code == 204
    assert not WebhookEndpoint.objects.exists()


def test_private_addresses_and_junk_are_refused(world_a, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    client = world_a.client()
    for url in ("http://169.254.169.254/latest/meta-data", "http://127.0.0.1:8000/", "ftp://example.com/x"):
        response = client.post_json(URL, {"url": url, "events": ["call.missed"]})
        assert response.status_code == 400, (url, response.content)
        assert response.json()["error"]["code"]
    assert client.post_json(URL, {"url": "https://example.com/", "events": ["nope"]}).status_code == 400
    assert not WebhookEndpoint.objects.exists()


def test_other_business_and_no_key(world_a, world_b, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    created = world_a.client().post_json(URL, {"url": "https://crm.example.com/h", "events": ["call.missed"]})
    endpoint_id = created.json()["id"]
    theirs = world_b.client()
    assert theirs.get(URL).json()["results"] == []
    assert theirs.get(f"{URL}{endpoint_id}/").status_code == 404
    assert theirs.patch_json(f"{URL}{endpoint_id}/", {"active": False}).status_code == 404
    assert theirs.delete(f"{URL}{endpoint_id}/").status_code == 404
    assert ApiClient(None).get(URL).status_code == 401
    assert WebhookEndpoint.objects.get(pk=endpoint_id).active is True

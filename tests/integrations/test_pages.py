"""The owner's webhook pages: add (secret shown once), pause, delete, the delivery log, resend with the same event
id, send a test event. Owners and admins only; another business's endpoints are 404."""

import pytest

from integrations.models import WebhookDelivery, WebhookEndpoint
from integrations.outbound import emit
from tests.tenancy import assert_guarded

pytestmark = pytest.mark.django_db
BASE = "/app/acme/settings/webhooks/"


@pytest.fixture
def endpoint(tenant_a):
    return WebhookEndpoint.objects.create(
        business=tenant_a.business, url="http://127.0.0.1:9/a", events=["call.missed"]
    )


def test_owner_adds_an_endpoint_and_sees_the_secret_once(tenant_a, client_for):
    client = client_for(tenant_a.owner)
    response = client.post(
        BASE, {"kind": "webhook", "url": "http://127.0.0.1:9/hook", "events": ["call.missed", "conversation.booked"]}
    )
    endpoint = WebhookEndpoint.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{BASE}{endpoint.pk}/"
    assert endpoint.events == ["call.missed", "conversation.booked"] and endpoint.business == tenant_a.business
    page = client.get(response["Location"]).content.decode()
    assert endpoint.secret in page and endpoint.secret.startswith("whsec_")
    assert endpoint.secret not in client.get(response["Location"]).content.decode()  # once
    assert "http://127.0.0.1:9/hook" in client.get(BASE).content.decode()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"kind": "webhook", "url": "http://127.0.0.1:9/", "events": []}, "at least one event"),
        ({"kind": "webhook", "url": "not a url", "events": ["call.missed"]}, "full web address"),
        ({"kind": "webhook", "url": "http://127.0.0.1:9/", "events": ["nope"]}, "Choose events from the list"),
        ({"kind": "email", "url": "http://127.0.0.1:9/", "events": ["call.missed"]}, "Choose webhook or Slack"),
        ({"kind": "slack", "url": "https://example.com/x", "events": []}, "hooks.slack.com"),
    ],
)
def test_bad_input_is_a_form_error_and_nothing_is_saved(tenant_a, client_for, data, error):
    response = client_for(tenant_a.owner).post(BASE, data)
    assert response.status_code == 200 and error in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_a_slack_endpoint_has_no_secret_and_hides_its_url_path(tenant_a, client_for):
    client = client_for(tenant_a.admin)
    url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    response = client.post(BASE, {"kind": "slack", "url": url, "events": []})
    endpoint = WebhookEndpoint.objects.get()
    assert response.status_code == 302 and endpoint.kind == "slack" and endpoint.secret == ""
    assert endpoint.events == ["conversation.created", "conversation.urgent", "conversation.booked"]
    assert "XXXXSECRET" not in client.get(BASE).content.decode()


def test_log_resend_and_test_event(tenant_a, client_for, endpoint):
    [delivery] = emit(business_id=tenant_a.business.pk, event_type="call.missed", data={"call": {"id": 7}})
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status="failed",
        response_code=500,
        response_excerpt="<h1>Internal error</h1>",
        error="The receiver answered 500.",
    )
    client = client_for(tenant_a.owner)
    page = client.get(f"{BASE}{endpoint.pk}/").content.decode()
    assert str(delivery.event_id) in page and "HTTP 500" in page and "&lt;h1&gt;Internal error" in page
    assert "&quot;call.missed&quot;" in page  # the request body

    response = client.post(f"{BASE}{endpoint.pk}/deliveries/{delivery.pk}/resend/")
    assert response.status_code == 302
    copy = WebhookDelivery.objects.exclude(pk=delivery.pk).get()
    assert copy.event_id == delivery.event_id and copy.payload == delivery.payload and copy.status == "pending"

    client.post(f"{BASE}{endpoint.pk}/test/")
    test = WebhookDelivery.objects.get(event_type="test")
    assert test.payload["type"] == "test" and test.payload["business"] == "acme" and test.endpoint == endpoint


def test_pause_and_delete(tenant_a, client_for, endpoint):
    client = client_for(tenant_a.owner)
    client.post(f"{BASE}{endpoint.pk}/active/", {"active": "0"})
    endpoint.refresh_from_db()
    assert not endpoint.active
    assert emit(business_id=tenant_a.business.pk, event_type="call.missed", data={}) == []
    client.post(f"{BASE}{endpoint.pk}/delete/")
    assert not WebhookEndpoint.objects.exists()


def test_operators_are_refused(tenant_a, client_for, endpoint):
    client = client_for(tenant_a.operator)
    assert client.get(BASE).status_code == 403
    assert client.post(f"{BASE}{endpoint.pk}/delete/").status_code == 403
    assert WebhookEndpoint.objects.exists()


def test_another_business_cannot_see_or_touch_our_endpoints(tenant_a, tenant_b, client_for, endpoint):
    [delivery] = emit(business_id=tenant_a.business.pk, event_type="call.missed", data={})
    client = client_for(tenant_b.owner)
    assert client.get(f"/app/bolt/settings/webhooks/{endpoint.pk}/").status_code == 404
    for path in (
        f"{endpoint.pk}/active/",
        f"{endpoint.pk}/delete/",
        f"{endpoint.pk}/test/",
        f"{endpoint.pk}/deliveries/{delivery.pk}/resend/",
    ):
        assert client.post(f"/app/bolt/settings/webhooks/{path}", {"active": "0"}).status_code == 404
    endpoint.refresh_from_db()
    assert endpoint.active and WebhookDelivery.objects.count() == 1
    for url in (BASE, f"{BASE}{endpoint.pk}/"):
        assert_guarded(client_for, url, own=tenant_a, other=tenant_b, allowed_roles=("owner", "admin"))


def test_staff_admin_lists_and_opens_endpoints_and_deliveries_without_the_secret(tenant_a, endpoint):
    from django.test import Client

    from tenants.models import User

    endpoint.secret = "whsec_do-not-show"
    endpoint.save()
    [delivery] = emit(business_id=tenant_a.business.pk, event_type="call.missed", data={})
    client = Client()
    client.force_login(User.objects.create_superuser(email="staff@seconddesk.test", password="x-unused-x"))
    for url in (
        "/admin/integrations/webhookendpoint/",
        f"/admin/integrations/webhookendpoint/{endpoint.pk}/change/",
        "/admin/integrations/webhookdelivery/",
        f"/admin/integrations/webhookdelivery/{delivery.pk}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "whsec_do-not-show" not in response.content.decode()

"""Outbound webhooks only reach public addresses in production: private, loopback, link-local (the cloud metadata
address), multicast, reserved and unspecified addresses are refused when the URL is saved AND when it is sent, so
a name that re-resolves to a private address later (DNS rebinding) is refused without a byte sent."""

import socket
from unittest import mock

import pytest
from django.core.exceptions import ValidationError

from integrations.delivery import deliver
from integrations.models import WebhookDelivery, WebhookEndpoint
from integrations.netguard import is_public
from integrations.outbound import emit
from integrations.services import endpoint_create

REAL_GETADDRINFO = socket.getaddrinfo
PUBLIC_IP = "93.184.215.14"


def resolving(mapping: dict[str, str]):
    """Patch DNS: the names in `mapping` resolve to the given address; anything else as usual."""

    def fake(host, port, *args, **kwargs):
        if host in mapping:
            family = socket.AF_INET6 if ":" in mapping[host] else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (mapping[host], port or 80))]
        return REAL_GETADDRINFO(host, port, *args, **kwargs)

    return mock.patch("socket.getaddrinfo", side_effect=fake)


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    settings.WEBHOOKS_ALLOW_PRIVATE = False


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104  (an address under test, nothing binds to it)
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    ],
)
def test_non_public_addresses_are_not_public(address):
    assert not is_public(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_public(address):
    assert is_public(address)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8000/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/hook",
        "http://[::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "http://metadata.internal.test/computeMetadata",  # a public-looking name that resolves privately
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "http://does-not-resolve.invalid/hook",
    ],
)
def test_private_or_odd_urls_are_refused_at_save(tenant_a, production, url):
    with resolving({"metadata.internal.test": "169.254.169.254"}), pytest.raises(ValidationError):
        endpoint_create(
            business=tenant_a.business, kind="webhook", url=url, events=["call.missed"], actor=tenant_a.owner
        )
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_the_page_shows_a_form_error_for_a_private_url(tenant_a, production, client_for, settings):
    settings.SECURE_SSL_REDIRECT = False
    response = client_for(tenant_a.owner).post(
        "/app/acme/settings/webhooks/", {"kind": "webhook", "url": "http://169.254.169.254/", "events": ["call.missed"]}
    )
    assert response.status_code == 200
    assert "private or reserved address" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_a_public_url_is_accepted(tenant_a, production):
    with resolving({"hooks.example.com": PUBLIC_IP}):
        endpoint, secret = endpoint_create(
            business=tenant_a.business,
            kind="webhook",
            url="https://hooks.example.com/sd",
            events=["call.missed"],
            actor=tenant_a.owner,
        )
    assert endpoint.pk and secret


def _queued(tenant, url: str) -> WebhookDelivery:
    WebhookEndpoint.objects.create(business=tenant.business, url=url, events=["call.missed"])
    [row] = emit(business_id=tenant.business.pk, event_type="call.missed", data={})
    return row


@pytest.mark.django_db
def test_a_name_that_now_resolves_privately_is_refused_at_send(tenant_a, production, receiver):
    """Saved while it resolved to a public address; by send time it points at us (DNS rebinding)."""
    delivery = _queued(tenant_a, f"http://rebind.example.test:{receiver.port}/hook")
    with resolving({"rebind.example.test": "127.0.0.1"}):
        assert deliver(delivery_id=delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED and "private or reserved" in delivery.error
    assert receiver.requests == []


@pytest.mark.django_db
def test_the_connected_address_is_checked_even_if_the_lookup_before_it_said_public(tenant_a, production, receiver):
    """The name resolves publicly for the check and privately for the connection a moment later: the socket's
    peer is checked before anything is written to it."""
    delivery = _queued(tenant_a, f"http://rebind.example.test:{receiver.port}/hook")
    answers = iter([PUBLIC_IP])

    def flip(host, port, *args, **kwargs):
        if host == "rebind.example.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers, "127.0.0.1"), port))]
        return REAL_GETADDRINFO(host, port, *args, **kwargs)

    with mock.patch("socket.getaddrinfo", side_effect=flip):
        assert deliver(delivery_id=delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert "private or reserved" in delivery.error
    assert receiver.requests == []


@pytest.mark.django_db
def test_the_metadata_address_is_refused_at_send(tenant_a, production):
    delivery = _queued(tenant_a, "http://169.254.169.254/latest/meta-data/")
    with mock.patch("socket.socket.connect") as connect:
        assert deliver(delivery_id=delivery.pk) == "failed"
    connect.assert_not_called()


@pytest.mark.django_db
def test_private_addresses_are_allowed_when_the_setting_says_so(tenant_a, settings, receiver):
    settings.DEBUG, settings.WEBHOOKS_ALLOW_PRIVATE = False, True
    delivery = _queued(tenant_a, receiver.url)
    assert deliver(delivery_id=delivery.pk) == "delivered"

"""Uploaded media in production: business logos are public (long cache, nosniff), nothing else under MEDIA_URL
is; caller MMS media is only reachable through the login-checked view (tests/messaging/test_message_media.py)."""

import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from PIL import Image

from tenants.models import Business

pytestmark = pytest.mark.django_db


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (60, 20), (10, 120, 140)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def stored_logo(tenant_a) -> str:
    content = png_bytes()
    name = default_storage.save("logos/2026/01/acme-1a2b3c4d.png", ContentFile(content))
    Business.objects.filter(pk=tenant_a.business.pk).update(logo=name)
    return name


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_logo_is_served_to_anyone_with_long_cache_and_nosniff(stored_logo, settings):
    assert settings.DEBUG is False  # the production path, not django.conf.urls.static's DEBUG helper
    response = Client().get(f"/media/{stored_logo}")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert body(response) == png_bytes()
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_logo_url_of_the_business_is_what_is_served(tenant_a, stored_logo):
    business = Business.objects.get(pk=tenant_a.business.pk)
    assert business.logo.url == f"/media/{stored_logo}"
    assert Client().get(business.logo.url).status_code == 200


def test_logo_answers_if_modified_since(stored_logo):
    first = Client().get(f"/media/{stored_logo}")
    again = Client().get(f"/media/{stored_logo}", HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])
    assert again.status_code == 304


def test_logo_refuses_post(stored_logo):
    assert Client().post(f"/media/{stored_logo}").status_code == 405


@pytest.mark.parametrize(
    "path",
    [
        "logos/2026/01/missing.png",
        "logos/2026/01/",  # no directory listings
        "logos/2026/01/notes.txt",  # only logo images
        "logos/2026/01/page.html",
        "logos/../mms/1/1-0.jpg",  # normalised before it is checked
        "logos/%2e%2e/mms/1/1-0.jpg",
        "logos/..%2fmms/1/1-0.jpg",
    ],
)
def test_only_existing_logo_images_are_served(stored_logo, path):
    default_storage.save("logos/2026/01/notes.txt", ContentFile(b"secret"))
    default_storage.save("logos/2026/01/page.html", ContentFile(b"<script>alert(1)</script>"))
    default_storage.save("mms/1/1-0.jpg", ContentFile(b"caller photo"))
    response = Client().get(f"/media/{path}")
    assert response.status_code in (400, 404)
    assert b"caller photo" not in body(response) and b"secret" not in body(response)


@pytest.mark.parametrize("path", ["mms/1/1-0.jpg", "mms/", "other/file.png", "file.png"])
def test_nothing_else_under_media_is_public(tenant_a, path):
    default_storage.save("mms/1/1-0.jpg", ContentFile(b"caller photo"))
    default_storage.save("other/file.png", ContentFile(png_bytes()))
    default_storage.save("file.png", ContentFile(png_bytes()))
    for client in (Client(), _logged_in(tenant_a.owner)):
        response = client.get(f"/media/{path}")
        assert response.status_code == 404


def _logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client

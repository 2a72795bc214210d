"""Caller MMS media through /app/<slug>/media/<message id>/<index>/: members of the receiving business only,
404 for everything else, never as a page that could run script on our origin."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from messaging.models import Message
from tenants.models import Membership
from tests.factories import PhoneNumberFactory
from tests.tenancy import assert_guarded

pytestmark = pytest.mark.django_db

JPEG = b"\xff\xd8\xff\xe0" + b"leak photo" * 50
EVERYONE = tuple(Membership.Role.values)


def inbound_with_media(business, items: list[dict]) -> Message:
    number = PhoneNumberFactory(business=business)
    return Message.objects.create(
        business=business,
        phone_number=number,
        direction=Message.Direction.INBOUND,
        kind=Message.Kind.INBOUND,
        from_number="+14158675309",
        to_number=number.e164,
        body="photo of the leak",
        media=items,
        status=Message.Status.RECEIVED,
        provider="twilio",
    )


def store(business, name: str, content: bytes) -> str:
    return default_storage.save(f"mms/{business.pk}/{name}", ContentFile(content))


@pytest.fixture
def photo(tenant_a) -> Message:
    path = store(tenant_a.business, "1-0.jpg", JPEG)
    return inbound_with_media(
        tenant_a.business,
        [
            {
                "url": "https://api.twilio.com/x/Media/ME1",
                "content_type": "image/jpeg",
                "stored": path,
                "size": len(JPEG),
            }
        ],
    )


def media_url(message: Message, index: int = 0, slug: str | None = None) -> str:
    return reverse("message_media", args=[slug or message.business.slug, message.pk, index])


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_every_member_of_the_business_and_nobody_else(client_for, tenant_a, tenant_b, photo):
    assert_guarded(client_for, media_url(photo), own=tenant_a, other=tenant_b, allowed_roles=EVERYONE)


def test_streams_the_stored_file_inline_for_members(client_for, tenant_a, photo):
    for role in EVERYONE:
        response = client_for(tenant_a.user(role)).get(media_url(photo))
        assert response.status_code == 200, role
        assert response["Content-Type"] == "image/jpeg"
        assert body(response) == JPEG
        assert response["Content-Disposition"].startswith("inline")
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response["Content-Security-Policy"]
        assert response["Cache-Control"].startswith("private")


def test_refuses_post(client_for, tenant_a, photo):
    assert client_for(tenant_a.owner).post(media_url(photo)).status_code == 405


def test_another_business_message_under_my_slug_is_404(client_for, tenant_a, tenant_b):
    theirs_path = store(tenant_b.business, "9-0.jpg", JPEG)
    theirs = inbound_with_media(tenant_b.business, [{"content_type": "image/jpeg", "stored": theirs_path}])
    response = client_for(tenant_a.owner).get(media_url(theirs, slug=tenant_a.business.slug))
    assert response.status_code == 404
    # and tenant B's own people do get it
    assert client_for(tenant_b.operator).get(media_url(theirs)).status_code == 200


@pytest.mark.parametrize(
    "items",
    [
        [],  # a text without media
        [{"url": "https://api.twilio.com/x", "content_type": "image/png"}],  # never fetched
        [{"url": "http://169.254.169.254/", "content_type": "image/jpeg", "error": "not fetched"}],
        [{"content_type": "image/jpeg", "stored": "mms/999999/1-0.jpg"}],  # another business's folder
        [{"content_type": "image/jpeg", "stored": "logos/2026/01/x.png"}],  # outside mms/
        [{"content_type": "image/jpeg", "stored": "mms/{pk}/../999999/1-0.jpg"}],
        [{"content_type": "image/jpeg", "stored": "mms/{pk}/gone.jpg"}],  # recorded, but the file is gone
        ["not-a-dict"],
    ],
    ids=["none", "not-fetched", "refused", "foreign-folder", "not-mms", "dot-dot", "missing-file", "junk"],
)
def test_items_without_a_stored_copy_of_ours_are_404(client_for, tenant_a, items):
    store(tenant_a.business, "x.jpg", JPEG)
    default_storage.save("mms/999999/1-0.jpg", ContentFile(b"someone else's photo"))
    items = [
        {k: v.replace("{pk}", str(tenant_a.business.pk)) for k, v in item.items()} if isinstance(item, dict) else item
        for item in items
    ]
    message = inbound_with_media(tenant_a.business, items)
    response = client_for(tenant_a.owner).get(media_url(message))
    assert response.status_code == 404


def test_index_out_of_range_and_unknown_message_are_404(client_for, tenant_a, photo):
    client = client_for(tenant_a.owner)
    assert client.get(media_url(photo, index=1)).status_code == 404
    assert client.get(reverse("message_media", args=["acme", photo.pk + 1000, 0])).status_code == 404


def test_second_item_by_index(client_for, tenant_a):
    first = store(tenant_a.business, "5-0.jpg", JPEG)
    second = store(tenant_a.business, "5-1.mp4", b"\x00\x00\x00\x18ftypmp42")
    message = inbound_with_media(
        tenant_a.business,
        [{"content_type": "image/jpeg", "stored": first}, {"content_type": "video/mp4", "stored": second}],
    )
    response = client_for(tenant_a.operator).get(media_url(message, index=1))
    assert response["Content-Type"] == "video/mp4"
    assert body(response) == b"\x00\x00\x00\x18ftypmp42"


@pytest.mark.parametrize(
    ("content_type", "name"),
    [("image/svg+xml", "7-0.svg"), ("application/pdf", "7-0.pdf"), ("text/vcard", "7-0.vcf")],
)
def test_types_that_could_act_as_a_page_are_downloads(client_for, tenant_a, content_type, name):
    path = store(tenant_a.business, name, b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    message = inbound_with_media(tenant_a.business, [{"content_type": content_type, "stored": path}])
    response = client_for(tenant_a.owner).get(media_url(message))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_stored_file_is_not_public_under_media_url(client_for, tenant_a, photo):
    stored = photo.media[0]["stored"]
    assert client_for(None).get(f"/media/{stored}").status_code == 404
    assert client_for(tenant_a.owner).get(f"/media/{stored}").status_code == 404

"""The read-only conversation page and the members-only intake photo view."""

import datetime as dt

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from compliance.models import ConsentEvent
from compliance.services import consent_record
from inbox.actions import conversation_set_priority, conversation_set_tags, note_add
from inbox.models import Conversation
from inbox.selectors import conversation_timeline
from intake.models import IntakePhoto, IntakeSubmission
from intake.services import intake_link_for
from messaging.models import Message
from telephony.models import Call
from tenants.models import Membership
from tests.factories import CallFactory
from tests.intake.conftest import image_bytes, open_conversation
from tests.tenancy import assert_guarded

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)  # 10:00 AM in New York


def at(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def message(conversation, *, direction: str, kind: str, body: str, status: str, when, **extra) -> Message:
    number, caller = conversation.phone_number.e164, conversation.contact.phone
    row = Message.objects.create(
        business=conversation.business,
        conversation=conversation,
        phone_number=conversation.phone_number,
        direction=direction,
        kind=kind,
        from_number=number if direction == "out" else caller,
        to_number=caller if direction == "out" else number,
        body=body,
        status=status,
        provider="twilio",
        **extra,
    )
    Message.objects.filter(pk=row.pk).update(created_at=when)
    return row


def submission_with_photo(conversation, *, when) -> tuple[IntakeSubmission, IntakePhoto]:
    link = intake_link_for(conversation=conversation)
    submission = IntakeSubmission.objects.create(
        business=conversation.business,
        link=link,
        conversation=conversation,
        name="Dana",
        service_type="Leak",
        description="Water under the sink",
        urgency="today",
        consent_given=True,
    )
    IntakeSubmission.objects.filter(pk=submission.pk).update(created_at=when)
    photo = IntakePhoto(business=conversation.business, submission=submission, content_type="image/jpeg", size=0)
    content = image_bytes()
    photo.size = len(content)
    photo.file.save("leak.jpg", ContentFile(content), save=True)
    return submission, photo


def consent(conversation, *, kind: str, when, **extra) -> ConsentEvent:
    event = consent_record(business=conversation.business, phone=conversation.contact.phone, kind=kind, **extra)
    ConsentEvent.objects.filter(pk=event.pk).update(created_at=when)
    return event


@pytest.fixture
def conversation_a(tenant_a) -> Conversation:
    conversation = open_conversation(tenant_a.business)
    Conversation.objects.filter(pk=conversation.pk).update(created_at=T0)
    conversation.refresh_from_db()
    return conversation


@pytest.fixture
def history(conversation_a) -> dict:
    """A missed call, its text-back, the implied consent, the intake form with a photo and the caller's reply."""
    call = CallFactory(
        phone_number=conversation_a.phone_number,
        caller=conversation_a.contact.phone,
        contact=conversation_a.contact,
        conversation=conversation_a,
        started_at=at(0),
        recording_url="https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
    )
    implied = consent(conversation_a, kind="implied_by_call", call=call, when=at(1))
    textback = message(
        conversation_a, direction="out", kind="textback", body="Sorry we missed you!", status="delivered", when=at(5)
    )
    submission, photo = submission_with_photo(conversation_a, when=at(120))
    reply = message(
        conversation_a, direction="in", kind="inbound", body="Yes please come today", status="received", when=at(300)
    )
    stop = consent(conversation_a, kind="opt_out", matched="STOP", review="pending", when=at(400))
    return {
        "call": call,
        "implied": implied,
        "textback": textback,
        "submission": submission,
        "photo": photo,
        "reply": reply,
        "stop": stop,
    }


def page_url(conversation) -> str:
    return reverse("conversation", args=[conversation.business.slug, conversation.pk])


def photo_url(photo) -> str:
    return reverse("intake_photo", args=[photo.business.slug, photo.pk])


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# --- access ------------------------------------------------------------------------------------------------------


def test_conversation_page_is_guarded(client_for, tenant_a, tenant_b, history):
    assert_guarded(
        client_for,
        page_url(history["call"].conversation),
        own=tenant_a,
        other=tenant_b,
        allowed_roles=Membership.Role.values,
    )


def test_photo_view_is_guarded(client_for, tenant_a, tenant_b, history):
    assert_guarded(
        client_for, photo_url(history["photo"]), own=tenant_a, other=tenant_b, allowed_roles=Membership.Role.values
    )


def test_other_business_conversation_id_is_404_even_under_own_slug(client_for, tenant_a, tenant_b):
    theirs = open_conversation(tenant_b.business)
    url = reverse("conversation", args=[tenant_a.business.slug, theirs.pk])
    assert client_for(tenant_a.owner).get(url).status_code == 404


# --- the timeline ------------------------------------------------------------------------------------------------


def test_timeline_interleaves_everything_oldest_first(conversation_a, history):
    timeline = conversation_timeline(conversation=conversation_a)
    assert [(item.kind, item.obj.pk) for item in timeline] == [
        ("call", history["call"].pk),
        ("consent", history["implied"].pk),
        ("message", history["textback"].pk),
        ("intake", history["submission"].pk),
        ("message", history["reply"].pk),
        ("consent", history["stop"].pk),
    ]
    intake = timeline[3]
    assert "Service: Leak" in intake.lines and "Photos: 1" in intake.lines


def test_page_shows_the_timeline_in_order_in_the_business_time_zone(client_for, tenant_a, conversation_a, history):
    response = client_for(tenant_a.operator).get(page_url(conversation_a))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Opted out: do not text" in html  # the STOP below set the contact's flag
    html = html[html.index('<ol class="timeline"') :]
    markers = [
        "Missed",  # the call
        "No answer",  # its missed reason
        "Text-back queued.",  # the decision reason
        'src="https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.mp3"',
        "Called the business (implied consent to a reply)",
        "Sorry we missed you!",
        "Delivered",
        "Intake form (answered in English)",
        "Description: Water under the sink",
        f'src="{photo_url(history["photo"])}"',
        "Yes please come today",
        "Opted out",
        "Matched “STOP”",
        "Waiting for review",
    ]
    positions = [html.find(marker) for marker in markers]
    assert -1 not in positions, [m for m, p in zip(markers, positions, strict=True) if p == -1]
    assert positions == sorted(positions)
    assert "<audio controls" in html
    assert 'class="bubble out' in html and 'class="bubble in' in html
    assert "Mon Mar 2, 10:00 AM" in html  # 15:00 UTC in America/New_York


def test_header_shows_contact_status_priority_and_opt_out(client_for, tenant_a, conversation_a):
    conversation_a.contact.name = "Dana Reyes"
    conversation_a.contact.opted_out = True
    conversation_a.contact.save()
    Conversation.objects.filter(pk=conversation_a.pk).update(priority="urgent", status="waiting")
    html = client_for(tenant_a.admin).get(page_url(conversation_a)).content.decode()
    assert "Dana Reyes" in html
    assert "Waiting on caller" in html
    assert "Urgent priority" in html
    assert "Opted out: do not text" in html


def test_anonymous_contact_is_shown_as_a_pretty_number(client_for, tenant_a, conversation_a):
    html = client_for(tenant_a.owner).get(page_url(conversation_a)).content.decode()
    assert conversation_a.contact.display in html and conversation_a.contact.display != conversation_a.contact.phone


def test_failed_text_shows_its_error_in_plain_words(client_for, tenant_a, conversation_a):
    message(
        conversation_a,
        direction="out",
        kind="reply",
        body="On our way",
        status="failed",
        when=at(10),
        error_message="The number is a landline and cannot receive texts.",
    )
    html = client_for(tenant_a.operator).get(page_url(conversation_a)).content.decode()
    assert "Failed" in html
    assert "The number is a landline and cannot receive texts." in html


def test_stored_mms_media_goes_through_the_members_only_view(client_for, tenant_a, conversation_a):
    media = [
        {"url": "https://api.twilio.com/m/ME1", "content_type": "image/jpeg", "stored": "mms/1/a.jpg"},
        {"url": "https://api.twilio.com/m/ME2", "content_type": "image/png"},  # never stored: not shown
        {"url": "https://api.twilio.com/m/ME3", "content_type": "application/pdf", "stored": "mms/1/c.pdf"},
    ]
    inbound = message(
        conversation_a, direction="in", kind="inbound", body="", status="received", when=at(10), media=media
    )
    html = client_for(tenant_a.operator).get(page_url(conversation_a)).content.decode()
    slug = tenant_a.business.slug
    assert f'<img class="bubble-img" src="{reverse("message_media", args=[slug, inbound.pk, 0])}"' in html
    assert reverse("message_media", args=[slug, inbound.pk, 1]) not in html
    assert f'href="{reverse("message_media", args=[slug, inbound.pk, 2])}">Attachment' in html
    assert "api.twilio.com/m/" not in html


def test_consent_events_of_the_number_from_before_the_conversation_are_left_out(conversation_a):
    old = consent(conversation_a, kind="opt_in", when=T0 - dt.timedelta(days=30))
    assert old.pk not in [item.obj.pk for item in conversation_timeline(conversation=conversation_a)]


def test_query_count_does_not_grow_with_the_conversation(client_for, tenant_a, conversation_a, history):
    client = client_for(tenant_a.operator)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(page_url(conversation_a)).status_code == 200
        return len(queries)

    for i in range(2):
        message(conversation_a, direction="in", kind="inbound", body=f"m{i}", status="received", when=at(500 + i))
    note_add(conversation=conversation_a, body="first note", author=tenant_a.owner)  # (no notes: no mentions query)
    small = count()
    for i in range(2, 20):
        message(conversation_a, direction="in", kind="inbound", body=f"m{i}", status="received", when=at(500 + i))
    for i in range(3):
        CallFactory(
            phone_number=conversation_a.phone_number,
            contact=conversation_a.contact,
            conversation=conversation_a,
            started_at=at(600 + i),
        )
        consent(conversation_a, kind="help", when=at(700 + i))
    # notes with mentions, team actions, tags, and the caller's earlier conversations
    for i in range(4):
        note_add(conversation=conversation_a, body=f"note {i} @owner @admin", author=tenant_a.operator)
        conversation_set_priority(
            conversation=conversation_a, priority=["high", "normal"][i % 2], actor=tenant_a.operator
        )
    conversation_set_tags(conversation=conversation_a, names=["warranty", "commercial"], actor=tenant_a.owner)
    for _ in range(3):
        Conversation.objects.create(
            business=tenant_a.business, contact=conversation_a.contact, status="closed", last_activity_at=at(0)
        )
    submission_with_photo(open_conversation(tenant_a.business, phone="+14155550199"), when=at(800))
    assert Message.objects.filter(conversation=conversation_a).count() == 22
    assert Call.objects.filter(conversation=conversation_a).count() == 4
    assert count() == small


# --- the photo view ----------------------------------------------------------------------------------------------


def test_photo_view_streams_the_bytes_to_a_member(client_for, tenant_a, history):
    response = client_for(tenant_a.operator).get(photo_url(history["photo"]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert body(response) == image_bytes()


def test_photo_view_is_404_for_another_business(client_for, tenant_a, tenant_b, history):
    response = client_for(tenant_b.owner).get(photo_url(history["photo"]))
    assert response.status_code == 404
    # and under the other business's own slug, the id still does not resolve
    url = reverse("intake_photo", args=[tenant_b.business.slug, history["photo"].pk])
    assert client_for(tenant_b.owner).get(url).status_code == 404


def test_photo_view_is_404_when_the_file_is_gone(client_for, tenant_a, history):
    history["photo"].file.storage.delete(history["photo"].file.name)
    assert client_for(tenant_a.owner).get(photo_url(history["photo"])).status_code == 404
    assert IntakePhoto.objects.filter(pk=history["photo"].pk).exists()


def test_calls_page_links_the_contact_to_the_conversation(client_for, tenant_a, conversation_a, history):
    html = client_for(tenant_a.operator).get(reverse("calls", args=[tenant_a.business.slug])).content.decode()
    assert f'<a href="{page_url(conversation_a)}">{conversation_a.contact.display}</a>' in html


def test_a_long_conversation_shows_the_latest_items_and_offers_the_rest(client_for, tenant_a, conversation_a):
    from inbox.selectors import TIMELINE_LIMIT

    for i in range(TIMELINE_LIMIT + 5):
        message(conversation_a, direction="in", kind="inbound", body=f"text {i}", status="received", when=at(i))
    client = client_for(tenant_a.operator)
    html = client.get(page_url(conversation_a)).content.decode()
    assert f"text {TIMELINE_LIMIT + 4}<" in html and "text 4<" not in html and "text 5<" in html
    assert "Show everything" in html
    everything = client.get(page_url(conversation_a), {"all": "1"}).content.decode()
    assert "text 0<" in everything and "Show everything" not in everything

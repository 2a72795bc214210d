"""The reply composer: who may reply, what a reply queues, and the refusals (opted out, empty, too long)."""

import pytest
from django.urls import reverse

from compliance.models import AuditEvent, ConsentEvent
from compliance.services import consent_record
from inbox import live
from inbox.models import Conversation
from messaging.models import Message
from messaging.sending import send_message
from tenants.models import Membership
from tests.factories import ContactFactory, ConversationFactory
from tests.intake.conftest import open_conversation
from tests.numbers import CALLER, NUMBER_A
from tests.tenancy import assert_guarded

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
BANNER = "This number opted out (replied STOP). You can't text them until they reply START."


def reply_url(conversation) -> str:
    return reverse("conversation_reply", args=[conversation.business.slug, conversation.pk])


def page_url(conversation) -> str:
    return reverse("conversation", args=[conversation.business.slug, conversation.pk])


@pytest.fixture
def conversation_a(tenant_a) -> Conversation:
    return open_conversation(tenant_a.business)


def opt_out(conversation) -> None:
    consent_record(business=conversation.business, phone=conversation.contact.phone, kind=ConsentEvent.Kind.OPT_OUT)


def test_reply_is_guarded(client_for, tenant_a, tenant_b, conversation_a):
    assert_guarded(
        client_for,
        reply_url(conversation_a),
        own=tenant_a,
        other=tenant_b,
        allowed_roles=Membership.Role.values,
        method="post",
        data={"body": "On our way"},
    )


def test_get_is_not_allowed(client_for, tenant_a, conversation_a):
    assert client_for(tenant_a.operator).get(reply_url(conversation_a)).status_code == 405


def test_reply_queues_one_message_and_waits_on_the_caller(
    client_for, tenant_a, conversation_a, django_capture_on_commit_callbacks, monkeypatch
):
    operator = tenant_a.operator
    client = client_for(operator)
    rung = []
    monkeypatch.setattr("messaging.tasks.send_message_task.delay", rung.append)
    version = live.version(business_id=tenant_a.business.pk, conversation_id=conversation_a.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reply_url(conversation_a), {"body": "  We can come at 3 pm.\r\nOK?  "})
    assert response.status_code == 302 and response["Location"].startswith(page_url(conversation_a))
    [message] = Message.objects.filter(conversation=conversation_a)
    assert message.body == "We can come at 3 pm.\nOK?"
    assert (message.direction, message.kind, message.status) == ("out", "reply", "queued")
    assert (message.trigger, message.trigger_detail, message.sent_by) == ("user", "inbox", operator)
    assert message.from_number == conversation_a.phone_number.e164
    assert message.to_number == conversation_a.contact.phone
    assert (message.encoding, message.segments, message.provider) == ("GSM-7", 1, "twilio")
    assert message.next_attempt_at is not None
    assert rung == [message.pk]  # the send task is rung once, after commit
    assert live.version(business_id=tenant_a.business.pk, conversation_id=conversation_a.pk) != version
    conversation_a.refresh_from_db()
    assert conversation_a.status == Conversation.Status.WAITING
    assert conversation_a.last_outbound_at == conversation_a.last_activity_at is not None
    [entry] = AuditEvent.objects.filter(action="conversation.reply")
    assert entry.actor == operator and entry.detail["message_id"] == message.pk
    assert "We can come" not in str(entry.detail)  # no body in the audit log
    page = client.get(response["Location"])
    assert "Reply queued" in page.content.decode()


def test_htmx_reply_returns_a_cleared_composer_and_the_timeline_out_of_band(client_for, tenant_a, conversation_a):
    response = client_for(tenant_a.admin).post(reply_url(conversation_a), {"body": "Hi ☺"}, **HTMX)
    assert response.status_code == 200
    assert "HX-Refresh" not in response  # no reload: the page's parts come back with the composer
    assert "replyQueued" in response["HX-Trigger"]
    html = response.content.decode()
    composer, parts = html.split('id="thread-head"', 1)
    assert 'id="composer"' in composer and "Hi ☺" not in composer  # emptied
    assert "Hi ☺" in parts and 'id="timeline" class="thread-timeline" aria-label="Timeline" hx-swap-oob="true"' in parts
    message = Message.objects.get(conversation=conversation_a)
    assert (message.encoding, message.segments) == ("UCS-2", 1)


def test_reply_is_sent_to_the_caller(client_for, tenant_a, number_a, fake_twilio):
    contact = ContactFactory(business=tenant_a.business, phone=CALLER)
    conversation = ConversationFactory(contact=contact, business=tenant_a.business, phone_number=number_a)
    client_for(tenant_a.owner).post(reply_url(conversation), {"body": "Booked you for Tuesday."})
    message = Message.objects.get(conversation=conversation)
    assert send_message(message_id=message.pk) == "sent"
    [request] = fake_twilio.requests
    assert (request["To"], request["From"], request["Body"]) == (CALLER, NUMBER_A, "Booked you for Tuesday.")
    message.refresh_from_db()
    assert message.status == Message.Status.SENT


def test_opted_out_number_is_refused_with_the_banner(client_for, tenant_a, conversation_a):
    opt_out(conversation_a)
    client = client_for(tenant_a.operator)
    response = client.post(reply_url(conversation_a), {"body": "Still there?"}, **HTMX)
    assert response.status_code == 200
    assert BANNER in response.content.decode()
    assert "HX-Refresh" not in response
    assert not Message.objects.filter(conversation=conversation_a).exists()
    # Without htmx: back to the page with the reason as a flash.
    response = client.post(reply_url(conversation_a), {"body": "Still there?"}, follow=True)
    assert "This number opted out" in response.content.decode()
    assert not Message.objects.filter(conversation=conversation_a).exists()


def test_opt_out_in_the_ledger_wins_over_a_stale_contact_flag(client_for, tenant_a, conversation_a):
    """The composer trusts the ledger, not only the cached flag."""
    opt_out(conversation_a)
    type(conversation_a.contact).objects.filter(pk=conversation_a.contact_id).update(opted_out=False)
    response = client_for(tenant_a.operator).post(reply_url(conversation_a), {"body": "Hello"}, **HTMX)
    assert "This number opted out" in response.content.decode()
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("", "Write a message before sending."),
        ("   \r\n ", "Write a message before sending."),
        ("x" * 1601, "at most 1600"),
    ],
)
def test_empty_and_too_long_bodies_are_refused(client_for, tenant_a, conversation_a, body, error):
    response = client_for(tenant_a.operator).post(reply_url(conversation_a), {"body": body}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and error in html
    assert 'aria-invalid="true"' in html
    assert not Message.objects.exists()
    conversation_a.refresh_from_db()
    assert conversation_a.status == Conversation.Status.NEW


def test_1600_characters_are_allowed(client_for, tenant_a, conversation_a):
    client_for(tenant_a.operator).post(reply_url(conversation_a), {"body": "x" * 1600}, **HTMX)
    assert Message.objects.get().segments == 11


def test_refused_text_is_kept_with_its_encoding_warning(client_for, tenant_a, conversation_a):
    body = "Ça coûte 50 € 🙂 " + "x" * 1600
    html = client_for(tenant_a.operator).post(reply_url(conversation_a), {"body": body}, **HTMX).content.decode()
    assert "x" * 1600 in html  # the operator's text is not lost
    assert "UCS-2" in html and "not in GSM-7: û 🙂" in html


def test_conversation_without_a_number_cannot_be_replied_to(client_for, tenant_a):
    conversation = ConversationFactory(contact=ContactFactory(business=tenant_a.business), business=tenant_a.business)
    response = client_for(tenant_a.operator).post(reply_url(conversation), {"body": "Hi"}, **HTMX)
    assert "no business number to reply from" in response.content.decode()
    assert not Message.objects.exists()


def test_booked_conversation_keeps_its_outcome(client_for, tenant_a, conversation_a):
    Conversation.objects.filter(pk=conversation_a.pk).update(status=Conversation.Status.BOOKED)
    client_for(tenant_a.operator).post(reply_url(conversation_a), {"body": "See you Tuesday"})
    conversation_a.refresh_from_db()
    assert conversation_a.status == Conversation.Status.BOOKED
    assert Message.objects.filter(conversation=conversation_a).count() == 1


def test_conversation_page_shows_the_composer(client_for, tenant_a, conversation_a):
    html = client_for(tenant_a.operator).get(page_url(conversation_a)).content.decode()
    assert f'action="{reply_url(conversation_a)}"' in html
    assert 'name="body"' in html and "data-segment-counter" in html and "0 characters · 0 segments · GSM-7" in html
    assert BANNER not in html


def test_conversation_page_shows_the_banner_when_opted_out(client_for, tenant_a, conversation_a):
    opt_out(conversation_a)
    html = client_for(tenant_a.operator).get(page_url(conversation_a)).content.decode()
    assert BANNER in html
    assert 'id="reply-body" name="body"' not in html and "disabled" in html  # the note form still works

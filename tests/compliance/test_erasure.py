"""Erasing a caller on request: their content goes, the business keeps its call history without the caller's
details, the consent ledger keeps only the hashed number so an opt-out still holds, and nothing of another business
is touched."""

import datetime as dt

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from compliance.models import AuditEvent, ConsentEvent, number_hash
from compliance.privacy import erase_caller, erasure_preview
from compliance.services import consent_record
from inbox.models import Contact, Conversation
from messaging.models import Message
from messaging.sending import send_message
from telephony.models import Call
from tenants.permissions import OWNERS
from tests.factories import CallFactory, ContactFactory, ConversationFactory, PhoneNumberFactory
from tests.numbers import CALLER, NUMBER_A
from tests.tenancy import assert_guarded

pytestmark = pytest.mark.django_db
OTHER_CALLER = "+14155550199"


def url(name: str, tenant) -> str:
    return reverse(name, args=[tenant.business.slug])


def caller_history(business, number, *, caller: str = CALLER, tag: str = "a") -> dict:
    """A caller's call (with a recording), contact, conversation, a text-back, their reply with a photo, and an
    opt-out on the ledger."""
    contact = ContactFactory(business=business, phone=caller, name="Pat Doe")
    conversation = ConversationFactory(contact=contact)
    call = CallFactory(
        phone_number=number,
        caller=caller,
        contact=contact,
        conversation=conversation,
        caller_name="PAT DOE",
        caller_city="SAN FRANCISCO",
        caller_state="CA",
        caller_zip="94110",
        recording_sid="RE" + "1" * 32,
        recording_url="https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
    )
    stored = default_storage.save(f"mms/{tag}-photo.png", ContentFile(b"png"))
    out = Message.objects.create(
        business=business,
        conversation=conversation,
        phone_number=number,
        direction="out",
        kind="textback",
        from_number=number.e164,
        to_number=caller,
        body="Sorry we missed your call",
        status="delivered",
        provider="twilio",
    )
    inbound = Message.objects.create(
        business=business,
        conversation=conversation,
        phone_number=number,
        direction="in",
        kind="inbound",
        from_number=caller,
        to_number=number.e164,
        body="My boiler is leaking at 12 Elm St",
        status="received",
        provider="twilio",
        media=[{"url": "https://api.twilio.com/m/1", "content_type": "image/png", "stored": stored}],
    )
    consent_record(business=business, phone=caller, kind=ConsentEvent.Kind.OPT_OUT, source_ref="SM1", raw_text="STOP")
    return {"contact": contact, "conversation": conversation, "call": call, "out": out, "in": inbound, "stored": stored}


@pytest.mark.parametrize("name", ["settings_privacy", "settings_privacy_erase"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_privacy_urls_are_owners_only(tenant_a, tenant_b, client_for, name, method):
    assert_guarded(client_for, url(name, tenant_a), own=tenant_a, other=tenant_b, allowed_roles=OWNERS, method=method)


def test_erase_removes_the_callers_content_and_keeps_the_ledger_hashed(
    tenant_a, tenant_b, number_a, django_capture_on_commit_callbacks
):
    mine = caller_history(tenant_a.business, number_a)
    other_number = PhoneNumberFactory(business=tenant_b.business)
    theirs = caller_history(tenant_b.business, other_number, tag="b")  # same caller, another business
    bystander = caller_history(tenant_a.business, number_a, caller=OTHER_CALLER, tag="c")

    assert erasure_preview(business=tenant_a.business, phone="(415) 867-5309").as_dict() == {
        "messages": 2,
        "media_files": 1,
        "conversations": 1,
        "contacts": 1,
        "calls": 1,
        "recordings": 1,
        "consent_events": 1,
    }
    with django_capture_on_commit_callbacks(execute=True):
        report = erase_caller(business=tenant_a.business, phone=CALLER, actor=tenant_a.owner, reason="asked by email")

    assert (report.messages, report.media_files, report.conversations, report.contacts) == (2, 1, 1, 1)
    assert (report.calls, report.recordings, report.consent_events) == (1, 1, 1)
    assert not Message.objects.filter(pk__in=[mine["out"].pk, mine["in"].pk]).exists()
    assert not Conversation.objects.filter(pk=mine["conversation"].pk).exists()
    assert not Contact.objects.filter(pk=mine["contact"].pk).exists()
    assert not default_storage.exists(mine["stored"])

    call = Call.objects.get(pk=mine["call"].pk)  # the business's record of the call stays, anonymous
    assert (call.caller, call.from_raw, call.recording_url, call.recording_sid) == ("", "erased", "", "")
    assert (call.caller_name, call.caller_city, call.caller_state, call.caller_zip) == ("", "", "", "")
    assert call.contact_id is None and call.conversation_id is None and call.status == "missed"

    [event] = ConsentEvent.objects.filter(
        business=tenant_a.business, phone_hash=number_hash(tenant_a.business.pk, CALLER)
    )
    assert (event.phone, event.raw_text) == ("", "")
    assert (event.kind, event.source_ref, event.created_at is not None) == ("opt_out", "SM1", True)

    entry = AuditEvent.objects.get(business=tenant_a.business, action="contact.erase")
    assert (
        entry.actor == tenant_a.owner and entry.detail["messages"] == 2 and entry.detail["reason"] == "asked by email"
    )
    assert entry.detail["phone_hash"] == number_hash(tenant_a.business.pk, CALLER)
    assert CALLER not in str(entry.detail) and CALLER not in entry.target_id

    # another business's history of the same caller, and another caller of this business, are untouched
    for history in (theirs, bystander):
        assert Message.objects.filter(pk__in=[history["out"].pk, history["in"].pk]).count() == 2
        assert Contact.objects.filter(pk=history["contact"].pk).exists()
        assert Call.objects.get(pk=history["call"].pk).recording_url
        assert default_storage.exists(history["stored"])
    assert ConsentEvent.objects.get(business=tenant_b.business, kind="opt_out").phone == CALLER


def test_erasing_twice_reports_zeros(tenant_a, number_a):
    caller_history(tenant_a.business, number_a)
    erase_caller(business=tenant_a.business, phone=CALLER, actor=tenant_a.owner, reason="request")
    again = erase_caller(business=tenant_a.business, phone=CALLER, actor=tenant_a.owner, reason="request")
    assert again.total == 0 and again.media_files == 0 and again.recordings == 0
    assert erasure_preview(business=tenant_a.business, phone=CALLER).total == 0


def test_an_erased_caller_who_opted_out_is_still_never_texted(tenant_a, number_a, fake_twilio):
    caller_history(tenant_a.business, number_a)  # opted out with STOP
    erase_caller(business=tenant_a.business, phone=CALLER, actor=tenant_a.owner, reason="request")
    assert not ConsentEvent.objects.filter(phone=CALLER, business=tenant_a.business).exists()

    message = Message.objects.create(
        business=tenant_a.business,
        phone_number=number_a,
        direction="out",
        kind="textback",
        from_number=NUMBER_A,
        to_number=CALLER,
        body="Sorry we missed your call",
        status="queued",
        provider="twilio",
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1),
    )
    assert send_message(message_id=message.pk) == "nothing to claim"
    message.refresh_from_db()
    assert message.status == "failed" and message.error_message == "Recipient opted out; not sent."
    assert fake_twilio.requests == []


def test_erase_flow_lookup_confirm_then_done(tenant_a, number_a, client_for):
    caller_history(tenant_a.business, number_a)
    client = client_for(tenant_a.owner)
    erase_url = url("settings_privacy_erase", tenant_a)

    page = client.get(erase_url)
    assert page.status_code == 200 and 'name="csrfmiddlewaretoken"' in page.content.decode()

    confirm = client.post(erase_url, {"phone": "415-867-5309"})
    html = confirm.content.decode()
    assert confirm.status_code == 200 and "Erase (415) 867-5309?" in html
    assert confirm.context["preview"].messages == 2 and confirm.context["preview"].recordings == 1
    assert Message.objects.filter(to_number=CALLER).exists()  # nothing deleted by looking

    unticked = client.post(erase_url, {"step": "confirm", "phone": CALLER, "reason": "asked"})
    assert unticked.status_code == 400 and "Tick the box to confirm." in unticked.content.decode()
    no_reason = client.post(erase_url, {"step": "confirm", "phone": CALLER, "confirm": "on"})
    assert no_reason.status_code == 400 and "Say why, for the audit log." in no_reason.content.decode()
    assert Contact.objects.filter(phone=CALLER).exists()

    done = client.post(erase_url, {"step": "confirm", "phone": CALLER, "confirm": "on", "reason": "asked"}, follow=True)
    assert done.redirect_chain == [(url("settings_privacy", tenant_a), 302)]
    assert "Caller erased: 2 messages, 1 conversations" in done.content.decode()
    assert not Contact.objects.filter(phone=CALLER).exists()
    assert AuditEvent.objects.filter(action="contact.erase", actor=tenant_a.owner).count() == 1


@pytest.mark.parametrize(
    ("raw", "error"),
    [("12", "is not a valid phone number"), ("call me", "is not a phone number"), ("", "This field is required")],
)
def test_erase_lookup_rejects_numbers_it_cannot_read(tenant_a, client_for, raw, error):
    response = client_for(tenant_a.owner).post(url("settings_privacy_erase", tenant_a), {"phone": raw})
    assert response.status_code == 400 and error in response.content.decode()


def test_erase_lookup_says_when_this_business_has_nothing_for_the_number(tenant_a, tenant_b, client_for):
    other_number = PhoneNumberFactory(business=tenant_b.business)
    caller_history(tenant_b.business, other_number)  # data for the number exists, but in another business
    response = client_for(tenant_a.owner).post(url("settings_privacy_erase", tenant_a), {"phone": CALLER})
    assert response.status_code == 400
    assert "(415) 867-5309 has no messages, calls or contact record in this business." in response.content.decode()
    assert Contact.objects.filter(business=tenant_b.business, phone=CALLER).exists()

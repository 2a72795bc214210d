"""Call back: one tap rings the member's own phone through the carrier and, when they answer, connects them to the
caller with the business number as caller id. The carrier is the local fake of Twilio's REST API (the real twilio
client is pointed at it); its webhooks are replayed through the real URLs, signed like Twilio signs them."""

import datetime as dt
import html
import xml.etree.ElementTree as ET

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from compliance.models import AuditEvent
from inbox import live
from inbox.models import Conversation, ConversationEvent
from telephony.models import Call
from telephony.services_call_back import PENDING_PREFIX
from tenants.models import Membership
from tests import twilio
from tests.factories import ContactFactory, ConversationFactory, PhoneNumberFactory
from tests.numbers import CALLER, NUMBER_A, OTHER_ACCOUNT_SID, OTHER_AUTH_TOKEN
from tests.tenancy import assert_guarded

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
OPERATOR_PHONE = "+14155552671"
BASE = "http://127.0.0.1:8000"


@pytest.fixture
def operator(tenant_a):
    tenant_a.operator.phone = OPERATOR_PHONE
    tenant_a.operator.save(update_fields=["phone"])
    return tenant_a.operator


@pytest.fixture
def conversation_a(number_a):
    contact = ContactFactory(business=number_a.business, phone=CALLER, name="Dana Reyes")
    return ConversationFactory(contact=contact, business=number_a.business, phone_number=number_a)


def call_back_url(conversation) -> str:
    return reverse("conversation_call_back", args=[conversation.business.slug, conversation.pk])


def tap(client, conversation, *, htmx: bool = True):
    return client.post(call_back_url(conversation), **(HTMX if htmx else {}))


def connect(call: Call, *, call_sid: str | None = None, **kwargs):
    """The carrier fetching what to do once the member answered."""
    params = twilio.payload(
        "voice_call_back",
        call_sid=call_sid or call.provider_call_id,
        number=NUMBER_A,
        operator=call.operator_number,
        account_sid=kwargs.pop("account_sid", twilio.ACCOUNT_SID),
    )
    return twilio.post(f"/webhooks/twilio/voice/call-back/?call={call.pk}", params, **kwargs)


def progress(call: Call, status: str, *, duration: str = "", sequence: int = 0, call_sid: str | None = None, **kw):
    """One status callback of the member's leg."""
    params = twilio.payload(
        "voice_call_back_status",
        call_sid=call_sid or call.provider_call_id,
        call_status=status,
        duration=duration,
        number=NUMBER_A,
        operator=call.operator_number,
        sequence=str(sequence),
        account_sid=kw.pop("account_sid", twilio.ACCOUNT_SID),
    )
    return twilio.post(f"/webhooks/twilio/voice/call-back/status/?call={call.pk}", params, **kw)


def text(response) -> str:
    return html.unescape(response.content.decode())


def twiml(response) -> ET.Element:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/xml")
    return ET.fromstring(response.content)


def nothing_written() -> bool:
    return not (
        Call.objects.exists()
        or ConversationEvent.objects.exists()
        or AuditEvent.objects.filter(action="conversation.call_back").exists()
    )


# --- placing the call -----------------------------------------------------------------------------------------


def test_call_back_rings_the_members_phone_from_the_business_number(
    fake_twilio, client_for, operator, conversation_a, django_capture_on_commit_callbacks
):
    version_before = live.version(business_id=conversation_a.business_id, conversation_id=conversation_a.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = tap(client_for(operator), conversation_a)

    assert response.status_code == 200
    page = text(response)
    assert "Calling your phone (+1 415-555-2671). Answer it to be connected to Dana Reyes." in page
    assert 'id="call-back"' in page and 'hx-post="' + call_back_url(conversation_a) in page  # can tap again

    call = Call.objects.get()
    [request] = fake_twilio.calls
    assert request["account_sid"] == twilio.ACCOUNT_SID  # the business's own account, like its texts
    assert (request["To"], request["From"]) == (OPERATOR_PHONE, NUMBER_A)
    assert request["Url"] == f"{BASE}/webhooks/twilio/voice/call-back/?call={call.pk}"
    assert request["StatusCallback"] == f"{BASE}/webhooks/twilio/voice/call-back/status/?call={call.pk}"
    assert request["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert (request["Method"], request["StatusCallbackMethod"], request["Timeout"]) == ("POST", "POST", "15")

    assert call.provider_call_id == request["sid"]
    assert (call.direction, call.status, call.provider) == ("outbound", "ringing", "twilio")
    assert (call.placed_by, call.operator_number, call.caller) == (operator, OPERATOR_PHONE, CALLER)
    assert (call.phone_number_id, call.contact_id, call.conversation_id) == (
        conversation_a.phone_number_id,
        conversation_a.contact_id,
        conversation_a.pk,
    )
    assert call.decision == Call.Decision.NOT_MISSED and call.error == ""

    conversation_a.refresh_from_db()
    assert conversation_a.first_response_at is not None
    assert conversation_a.status == Conversation.Status.OPEN  # somebody acted: no longer "new"
    [event] = ConversationEvent.objects.filter(conversation=conversation_a)
    assert (event.kind, event.actor, event.business_id) == ("call_back", operator, conversation_a.business_id)
    assert event.data == {
        "call_id": call.pk,
        "operator_number": OPERATOR_PHONE,
        "business_number": NUMBER_A,
        "caller": CALLER,
    }
    [entry] = AuditEvent.objects.filter(action="conversation.call_back")
    assert (entry.actor, entry.business_id) == (operator, conversation_a.business_id)
    assert entry.target_id == str(conversation_a.pk)
    assert entry.detail["call_id"] == call.pk
    # open inbox pages are told
    assert live.version(business_id=conversation_a.business_id, conversation_id=conversation_a.pk) != version_before


def test_without_javascript_it_redirects_with_a_flash(fake_twilio, client_for, operator, conversation_a):
    response = tap(client_for(operator), conversation_a, htmx=False)
    page = reverse("conversation", args=[conversation_a.business.slug, conversation_a.pk])
    assert response.status_code == 302 and response["Location"] == page + "#call-back"
    [flash] = get_messages(response.wsgi_request)
    assert flash.level_tag == "success"
    assert str(flash) == "Calling your phone (+1 415-555-2671). Answer it to be connected to Dana Reyes."
    assert len(fake_twilio.calls) == 1


def test_first_response_is_set_once(fake_twilio, client_for, operator, conversation_a):
    client = client_for(operator)
    tap(client, conversation_a)
    conversation_a.refresh_from_db()
    first = conversation_a.first_response_at
    Call.objects.update(status=Call.Status.COMPLETED)  # the first call ended: a second one is a new call
    tap(client, conversation_a)
    conversation_a.refresh_from_db()
    assert Call.objects.count() == 2 and len(fake_twilio.calls) == 2
    assert conversation_a.first_response_at == first
    assert ConversationEvent.objects.filter(kind="call_back").count() == 2


def test_an_earlier_human_response_is_kept(fake_twilio, client_for, operator, conversation_a):
    earlier = dt.datetime(2026, 1, 5, 14, 0, tzinfo=dt.UTC)
    Conversation.objects.filter(pk=conversation_a.pk).update(first_response_at=earlier, status="waiting")
    tap(client_for(operator), conversation_a)
    conversation_a.refresh_from_db()
    assert conversation_a.first_response_at == earlier
    assert conversation_a.status == "waiting"  # only "new" becomes "open"


def test_every_member_role_may_call_back_and_other_businesses_get_404(
    fake_twilio, client_for, tenant_a, tenant_b, conversation_a
):
    assert_guarded(
        client_for,
        call_back_url(conversation_a),
        own=tenant_a,
        other=tenant_b,
        allowed_roles=Membership.Role.values,
        method="post",
    )


def test_another_business_cannot_call_back_this_conversation(fake_twilio, client_for, tenant_b, conversation_a):
    tenant_b.owner.phone = OPERATOR_PHONE
    tenant_b.owner.save(update_fields=["phone"])
    # Their own slug with this conversation's id: the conversation is not theirs.
    url = reverse("conversation_call_back", args=[tenant_b.business.slug, conversation_a.pk])
    assert client_for(tenant_b.owner).post(url, **HTMX).status_code == 404
    assert nothing_written() and not fake_twilio.calls


def test_get_is_not_allowed(client_for, operator, conversation_a):
    assert client_for(operator).get(call_back_url(conversation_a)).status_code == 405


# --- refusals: a clear message, nothing written -----------------------------------------------------------------


def test_a_member_without_a_phone_number_is_told_where_to_add_it(fake_twilio, client_for, tenant_a, conversation_a):
    response = tap(client_for(tenant_a.owner), conversation_a)
    assert response.status_code == 200
    assert "Add your phone number in My settings: we ring it first." in text(response)
    assert f'<a href="{reverse("member_settings", args=[tenant_a.business.slug])}">Open My settings</a>' in text(
        response
    )
    assert nothing_written() and not fake_twilio.calls
    conversation_a.refresh_from_db()
    assert conversation_a.first_response_at is None

    response = tap(client_for(tenant_a.owner), conversation_a, htmx=False)
    [flash] = get_messages(response.wsgi_request)
    assert response.status_code == 302 and flash.level_tag == "error" and "My settings" in str(flash)
    assert nothing_written()


def test_the_button_is_replaced_by_a_hint_without_a_phone_number(tenant_a, conversation_a):
    """The partial as the conversation page includes it (context: conversation, contact, business)."""
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = tenant_a.owner
    context = {"conversation": conversation_a, "contact": conversation_a.contact, "business": tenant_a.business}
    rendered = render_to_string("inbox/_call_back.html", {**context, "user": tenant_a.owner}, request=request)
    assert "add your phone number in" in rendered and "<button" not in rendered
    tenant_a.owner.phone = OPERATOR_PHONE
    rendered = render_to_string("inbox/_call_back.html", {**context, "user": tenant_a.owner}, request=request)
    assert "Call Dana Reyes back</button>" in rendered and "csrfmiddlewaretoken" in rendered
    assert f'hx-post="{call_back_url(conversation_a)}"' in rendered


@pytest.mark.parametrize(
    ("phone", "message"),
    [
        ("555", "Your phone number in My settings (555) is not a valid number."),
        (NUMBER_A, "Your phone number in My settings is a business number."),
    ],
)
def test_an_unusable_member_phone_is_refused(fake_twilio, client_for, operator, conversation_a, phone, message):
    operator.phone = phone
    operator.save(update_fields=["phone"])
    response = tap(client_for(operator), conversation_a)
    assert message in text(response)
    assert nothing_written() and not fake_twilio.calls


def test_a_conversation_without_a_business_number_is_refused(fake_twilio, client_for, operator, conversation_a):
    Conversation.objects.filter(pk=conversation_a.pk).update(phone_number=None)
    response = tap(client_for(operator), conversation_a)
    assert "This conversation has no business number to call from." in text(response)
    assert nothing_written() and not fake_twilio.calls


def test_a_withheld_caller_cannot_be_called_back(fake_twilio, client_for, operator, conversation_a):
    conversation_a.contact.phone = "anonymous"
    conversation_a.contact.save(update_fields=["phone"])
    response = tap(client_for(operator), conversation_a)
    assert "The caller's number is withheld, so there is no number to call back." in text(response)
    assert nothing_written() and not fake_twilio.calls


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (400, 21219, "This Twilio trial account can only call numbers verified in Twilio."),
        (400, 21215, "not allowed to call your phone's country"),
        (400, 21999, "The carrier refused the call (error 21999)."),
        (503, 20500, "Twilio had a problem placing the call. Try again in a few seconds."),
    ],
)
def test_a_carrier_refusal_is_shown_in_plain_words_and_recorded(
    fake_twilio, client_for, operator, conversation_a, status, code, message
):
    fake_twilio.then(("error", status, code))
    response = tap(client_for(operator), conversation_a)
    assert response.status_code == 200
    assert message in text(response)
    call = Call.objects.get()
    assert call.status == Call.Status.FAILED and message in call.error and call.ended_at is not None
    assert call.provider_call_id.startswith(PENDING_PREFIX)  # the carrier never gave it an id
    # the caller was not reached: no response to count
    conversation_a.refresh_from_db()
    assert conversation_a.first_response_at is None and conversation_a.status == "new"
    assert not ConversationEvent.objects.exists()
    assert not AuditEvent.objects.filter(action="conversation.call_back").exists()


def test_a_business_without_a_carrier_account_is_told(client_for, operator, conversation_a, settings):
    conversation_a.business.carrier_credentials.all().delete()
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""
    response = tap(client_for(operator), conversation_a)
    assert "No carrier account is connected for this number." in text(response)
    assert Call.objects.get().status == Call.Status.FAILED


def test_an_unconfirmed_call_stays_ringing_until_the_carrier_reports_it(
    fake_twilio, client_for, operator, conversation_a
):
    fake_twilio.then(("hang", 1.5))  # longer than the 1 s read timeout: the request left, no answer came back
    response = tap(client_for(operator), conversation_a)
    assert "Twilio did not confirm the call. If your phone rings" in text(response)
    call = Call.objects.get()
    assert call.status == Call.Status.RINGING and call.provider_call_id.startswith(PENDING_PREFIX)
    # The call did exist: its first status callback names it, and the row follows from there.
    call_sid = twilio.sid("CA")
    assert progress(call, "ringing", call_sid=call_sid).status_code == 204
    call.refresh_from_db()
    assert (call.provider_call_id, call.status, call.error) == (call_sid, Call.Status.RINGING, "")
    assert progress(call, "in-progress", sequence=1).status_code == 204
    call.refresh_from_db()
    assert call.status == Call.Status.ANSWERED


# --- double taps ------------------------------------------------------------------------------------------------


def test_a_double_tap_places_one_call(fake_twilio, client_for, operator, conversation_a):
    client = client_for(operator)
    first = tap(client, conversation_a)
    second = tap(client, conversation_a)
    assert first.status_code == second.status_code == 200
    assert "Calling your phone" in text(second)
    assert Call.objects.count() == 1 and len(fake_twilio.calls) == 1
    assert ConversationEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_simultaneous_taps_place_one_call(fake_twilio, client_for, operator, conversation_a):
    """Four taps at the same instant (real transactions, real threads): the conversation's row lock serialises
    them, and the later ones find the first one's ringing call."""
    from tests.telephony.test_voice_concurrency import run_concurrently

    clients = [client_for(operator) for _ in range(4)]
    responses = run_concurrently(4, lambda: tap(clients.pop(), conversation_a))
    assert [r.status_code for r in responses] == [200] * 4
    assert all("Calling your phone" in text(r) for r in responses)
    assert Call.objects.count() == 1 and len(fake_twilio.calls) == 1
    assert ConversationEvent.objects.count() == 1


def test_a_teammate_cannot_ring_the_caller_while_a_call_back_rings(
    fake_twilio, client_for, operator, tenant_a, conversation_a
):
    tap(client_for(operator), conversation_a)
    tenant_a.owner.phone = "+14155551234"
    tenant_a.owner.full_name = "Sam Ortiz"
    tenant_a.owner.save(update_fields=["phone", "full_name"])
    operator.full_name = "Riley Chen"
    operator.save(update_fields=["full_name"])
    response = tap(client_for(tenant_a.owner), conversation_a)
    assert "Riley Chen is already calling Dana Reyes back." in text(response)
    assert Call.objects.count() == 1 and len(fake_twilio.calls) == 1
    # Half a minute later the ringing call back is stale (the status callbacks were lost): a new one may go.
    Call.objects.update(started_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=31))
    assert "Calling your phone" in text(tap(client_for(tenant_a.owner), conversation_a))
    assert Call.objects.count() == 2 and len(fake_twilio.calls) == 2


# --- the instructions the carrier fetches when the member answers -------------------------------------------------


@pytest.fixture
def placed(fake_twilio, client_for, operator, conversation_a) -> Call:
    tap(client_for(operator), conversation_a)
    return Call.objects.get()


def test_answering_connects_the_member_to_the_caller_from_the_business_number(placed):
    root = twiml(connect(placed))
    assert root.find("Say").text == "Connecting you to Dana Reyes."
    dial = root.find("Dial")
    assert dial.get("callerId") == NUMBER_A and dial.get("timeout") == "30"
    assert dial.find("Number").text == CALLER


def test_a_forged_signature_is_refused(placed):
    assert connect(placed, signature="Zm9yZ2VkIHNpZ25hdHVyZQ==").status_code == 403
    assert connect(placed, signature="").status_code == 403
    assert progress(placed, "completed", duration="30", signature="Zm9yZ2VkIHNpZ25hdHVyZQ==").status_code == 403
    placed.refresh_from_db()
    assert placed.status == Call.Status.RINGING


def test_another_businesss_account_cannot_connect_or_move_this_call(placed, number_b):
    """B's Twilio account signs validly, but the call back belongs to A's account."""
    assert connect(placed, account_sid=OTHER_ACCOUNT_SID, token=OTHER_AUTH_TOKEN).status_code == 403
    response = progress(placed, "completed", duration="30", account_sid=OTHER_ACCOUNT_SID, token=OTHER_AUTH_TOKEN)
    assert response.status_code == 403
    placed.refresh_from_db()
    assert placed.status == Call.Status.RINGING and placed.ended_at is None


def test_another_calls_id_is_refused(placed):
    assert connect(placed, call_sid=twilio.sid("CA")).status_code == 400
    assert progress(placed, "completed", call_sid=twilio.sid("CA")).status_code == 400
    placed.refresh_from_db()
    assert placed.status == Call.Status.RINGING


def test_an_ended_or_unknown_call_back_is_hung_up_not_connected(placed):
    Call.objects.filter(pk=placed.pk).update(status=Call.Status.COMPLETED)
    root = twiml(connect(placed))
    assert root.find("Hangup") is not None and root.find("Dial") is None
    params = twilio.payload("voice_call_back", call_sid=twilio.sid("CA"), number=NUMBER_A, operator=OPERATOR_PHONE)
    root = twiml(twilio.post("/webhooks/twilio/voice/call-back/?call=987654", params))
    assert root.find("Hangup") is not None and root.find("Dial") is None
    assert twilio.post("/webhooks/twilio/voice/call-back/?call=x1", params).status_code == 400


# --- status callbacks: forward only, replays change nothing ---------------------------------------------------


def test_status_moves_forward_from_ringing_to_answered_to_completed(placed):
    assert progress(placed, "initiated").status_code == 204
    assert progress(placed, "ringing", sequence=1).status_code == 204
    placed.refresh_from_db()
    assert placed.status == Call.Status.RINGING
    assert progress(placed, "in-progress", sequence=2).status_code == 204
    placed.refresh_from_db()
    assert placed.status == Call.Status.ANSWERED and placed.accepted_at is not None
    assert progress(placed, "completed", duration="95", sequence=3).status_code == 204
    placed.refresh_from_db()
    assert (placed.status, placed.duration) == (Call.Status.COMPLETED, 95) and placed.ended_at is not None
    ended = (placed.ended_at, placed.updated_at)

    # Replays and late, lower statuses change nothing.
    for status, duration in (("ringing", ""), ("in-progress", ""), ("completed", "120"), ("no-answer", "")):
        assert progress(placed, status, duration=duration).status_code == 204
    placed.refresh_from_db()
    assert (placed.status, placed.duration) == (Call.Status.COMPLETED, 95)
    assert (placed.ended_at, placed.updated_at) == ended


def test_a_late_answered_callback_does_not_reopen_a_completed_call(placed):
    progress(placed, "completed", duration="40", sequence=3)
    progress(placed, "in-progress", sequence=2)
    placed.refresh_from_db()
    assert placed.status == Call.Status.COMPLETED and placed.accepted_at is None


@pytest.mark.parametrize(
    ("carrier_status", "status"),
    [("no-answer", "no_answer"), ("busy", "busy"), ("failed", "failed"), ("canceled", "no_answer")],
)
def test_how_the_members_phone_ended_it(placed, carrier_status, status):
    assert progress(placed, "ringing").status_code == 204
    assert progress(placed, carrier_status, duration="0", sequence=1).status_code == 204
    placed.refresh_from_db()
    assert placed.status == status and placed.ended_at is not None
    if status == "failed":
        assert placed.error == "The carrier could not ring your phone."


def test_status_callbacks_write_no_event_or_audit_of_their_own(placed):
    progress(placed, "in-progress")
    progress(placed, "completed", duration="12", sequence=1)
    assert ConversationEvent.objects.count() == 1
    assert AuditEvent.objects.filter(action="conversation.call_back").count() == 1


# --- the simulator --------------------------------------------------------------------------------------------


def test_the_simulator_places_answers_and_completes_the_call_without_a_network(client_for, operator, tenant_a):
    number = PhoneNumberFactory(business=tenant_a.business, provider="simulator")
    contact = ContactFactory(business=tenant_a.business, phone=CALLER, name="Dana Reyes")
    conversation = ConversationFactory(contact=contact, business=tenant_a.business, phone_number=number)

    response = tap(client_for(operator), conversation)

    page = text(response)
    assert "Calling your phone (+1 415-555-2671). Answer it to be connected to Dana Reyes." in page
    assert "Simulator: no phone rings" in page
    call = Call.objects.get()
    assert (call.provider, call.direction, call.status) == ("simulator", "outbound", "completed")
    assert call.provider_call_id.startswith("CA") and call.accepted_at and call.ended_at and call.duration == 42
    assert call.placed_by == operator
    conversation.refresh_from_db()
    assert conversation.first_response_at is not None
    assert ConversationEvent.objects.filter(conversation=conversation, kind="call_back").count() == 1
    assert AuditEvent.objects.filter(action="conversation.call_back").count() == 1


def test_the_calls_page_shows_a_call_back_and_how_it_ended(placed, client_for, tenant_a):
    progress(placed, "completed", duration="61")
    page = text(client_for(tenant_a.owner).get(reverse("calls", args=[tenant_a.business.slug])))
    assert '<span class="badge">Call back</span> <span class="badge badge-ok">Completed</span>' in page
    assert ">Ringing<" not in page

"""Replying as the caller from the simulator's phone: owners only, through the same `message_receive` as Twilio's
SMS webhook, into the caller's open conversation of the right business; bad input writes nothing; htmx gets the
phone partial; the phone shows the thread oldest first with the delivery status of every text the business sent."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from inbox.models import Conversation
from messaging import services as messaging_services
from messaging.models import Message
from messaging.sending import send_message
from telephony.models import Call
from telephony.providers.base import InboundMessage
from telephony.simulation import SimulationError, simulate_call, simulate_reply
from tenants.models import BusinessHours
from tenants.permissions import OWNERS
from tests.factories import PhoneNumberFactory
from tests.tenancy import assert_guarded

pytestmark = pytest.mark.django_db

CALLER = "+14152418001"


def open_all_week(business) -> None:
    BusinessHours.objects.filter(business=business).delete()
    BusinessHours.objects.bulk_create(
        BusinessHours(business=business, weekday=d, opens=dt.time(0), closes=dt.time(0)) for d in range(7)
    )


@pytest.fixture
def sim_a(tenant_a):
    open_all_week(tenant_a.business)
    return PhoneNumberFactory(
        business=tenant_a.business, e164="+16282005000", provider="simulator", forward_to="+14152365000"
    )


@pytest.fixture
def sim_b(tenant_b):
    open_all_week(tenant_b.business)
    return PhoneNumberFactory(
        business=tenant_b.business, e164="+16282006000", provider="simulator", forward_to="+14152366000"
    )


@pytest.fixture
def call_a(sim_a) -> Call:
    return simulate_call(number=sim_a, caller=CALLER, outcome="no-answer")


def reply_url(call: Call) -> str:
    return reverse("simulator_reply", args=[call.business.slug, call.pk])


def inbound() -> list[Message]:
    return list(Message.objects.filter(direction=Message.Direction.INBOUND).order_by("pk"))


# --- guards ----------------------------------------------------------------------------------------------------


def test_reply_is_for_owners_of_the_business_only(client_for, tenant_a, tenant_b, call_a):
    data = {"caller": CALLER, "body": "Is anyone there?"}
    assert_guarded(
        client_for, reply_url(call_a), own=tenant_a, other=tenant_b, allowed_roles=OWNERS, method="post", data=data
    )
    # only the owner's POST got through
    assert [m.body for m in inbound()] == ["Is anyone there?"]


def test_reply_refuses_get(client_for, tenant_a, call_a):
    assert client_for(tenant_a.owner).get(reply_url(call_a)).status_code == 405
    assert inbound() == []


def test_another_business_call_under_my_slug_is_404(client_for, tenant_a, sim_a, sim_b):
    theirs = simulate_call(number=sim_b, caller=CALLER, outcome="no-answer")
    url = reverse("simulator_reply", args=[tenant_a.business.slug, theirs.pk])
    response = client_for(tenant_a.owner).post(url, {"caller": CALLER, "body": "hello"})
    assert response.status_code == 404
    assert inbound() == []


def test_call_to_a_real_carrier_number_is_404(client_for, tenant_a, sim_a):
    twilio_number = PhoneNumberFactory(business=tenant_a.business, e164="+16282005009", provider="twilio")
    call = Call.objects.create(
        business=tenant_a.business,
        phone_number=twilio_number,
        provider="twilio",
        provider_call_id="CA" + "0" * 32,
        caller=CALLER,
        from_raw=CALLER,
        status=Call.Status.MISSED,
        started_at=timezone.now(),
    )
    response = client_for(tenant_a.owner).post(reply_url(call), {"caller": CALLER, "body": "hello"})
    assert response.status_code == 404
    assert inbound() == []


def test_unknown_call_is_404(client_for, tenant_a, sim_a):
    url = reverse("simulator_reply", args=[tenant_a.business.slug, 999999])
    assert client_for(tenant_a.owner).post(url, {"caller": CALLER, "body": "hello"}).status_code == 404


# --- the reply lands like a real one ------------------------------------------------------------------------------


def test_reply_lands_in_the_callers_open_conversation_of_the_right_business(client_for, tenant_a, sim_a, sim_b):
    mine = simulate_call(number=sim_a, caller=CALLER, outcome="no-answer")
    theirs = simulate_call(number=sim_b, caller=CALLER, outcome="busy")  # same caller, other business
    response = client_for(tenant_a.owner).post(reply_url(mine), {"caller": CALLER, "body": "My sink is leaking"})
    assert response.status_code == 302

    [message] = inbound()
    assert message.business == tenant_a.business
    assert message.conversation_id == mine.conversation_id
    assert message.conversation_id != theirs.conversation_id
    assert (message.direction, message.kind, message.status) == ("in", "inbound", "received")
    assert (message.from_number, message.to_number, message.body) == (CALLER, sim_a.e164, "My sink is leaking")
    assert message.phone_number == sim_a and message.provider == "simulator"
    assert re.fullmatch(r"SM[0-9a-f]{32}", message.provider_message_id)
    conversation = Conversation.objects.get(pk=mine.conversation_id)
    assert conversation.last_inbound_at is not None
    assert not Message.objects.filter(conversation_id=theirs.conversation_id, direction="in").exists()


def test_reply_reopens_a_conversation_waiting_on_the_caller(client_for, tenant_a, call_a):
    Conversation.objects.filter(pk=call_a.conversation_id).update(status=Conversation.Status.WAITING)
    client_for(tenant_a.owner).post(reply_url(call_a), {"caller": CALLER, "body": "Tuesday works"})
    assert Conversation.objects.get(pk=call_a.conversation_id).status == Conversation.Status.OPEN
    assert inbound()[0].conversation_id == call_a.conversation_id


def test_reply_goes_through_message_receive_like_the_webhook(client_for, tenant_a, sim_a, call_a, monkeypatch):
    seen = []
    real = messaging_services.message_receive

    def spy(*, number, event):
        seen.append((number, event))
        return real(number=number, event=event)

    monkeypatch.setattr(messaging_services, "message_receive", spy)
    client_for(tenant_a.owner).post(reply_url(call_a), {"caller": "(415) 241-8001", "body": "Hi there"})
    [(number, event)] = seen
    assert number == sim_a
    assert isinstance(event, InboundMessage)
    assert (event.to, event.from_raw, event.body, event.media) == (sim_a.e164, CALLER, "Hi there", ())
    assert re.fullmatch(r"SM[0-9a-f]{32}", event.message_id)


def test_every_reply_is_a_new_message(client_for, tenant_a, call_a):
    client = client_for(tenant_a.owner)
    client.post(reply_url(call_a), {"caller": CALLER, "body": "Same words"})
    client.post(reply_url(call_a), {"caller": CALLER, "body": "Same words"})
    messages = inbound()
    assert len(messages) == 2 and messages[0].provider_message_id != messages[1].provider_message_id


def test_1600_characters_of_emoji_are_stored_intact(client_for, tenant_a, call_a):
    body = "\U0001f6b0" * 1600
    response = client_for(tenant_a.owner).post(reply_url(call_a), {"caller": CALLER, "body": body})
    assert response.status_code == 302
    [message] = inbound()
    assert message.body == body and message.encoding == "UCS-2"


def test_no_js_reply_redirects_back_to_the_phone_with_a_message(client_for, tenant_a, call_a):
    client = client_for(tenant_a.owner)
    response = client.post(reply_url(call_a), {"caller": CALLER, "body": "Can you come today?"})
    assert response["Location"] == reverse("simulator", args=["acme"]) + f"?call={call_a.pk}#sim-phone"
    page = client.get(response["Location"]).content.decode()
    assert "Your text as the caller arrived at the business." in page
    assert '<div class="bubble in">Can you come today?' in page


# --- bad input writes nothing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        ({"caller": CALLER, "body": "x" * 1601}, "body", "A text can be at most 1600 characters; this one has 1601."),
        ({"caller": CALLER, "body": ""}, "body", "Type the caller's text."),
        ({"caller": CALLER, "body": "   \n "}, "body", "Type the caller's text."),
        ({"caller": "12345", "body": "hello"}, "caller", "is not a valid phone number"),
        ({"caller": "not a number", "body": "hello"}, "caller", "is not a phone number"),
        ({"caller": "anonymous", "body": "hello"}, "caller", "The caller's number cannot text"),
        ({"body": "hello"}, "caller", "The caller's number is missing"),
    ],
    ids=["too-long", "empty", "blank", "invalid-number", "not-a-number", "withheld", "no-caller"],
)
def test_bad_input_gives_a_form_error_and_writes_nothing(client_for, tenant_a, call_a, data, field, error):
    before = Message.objects.count()
    client = client_for(tenant_a.owner)

    response = client.post(reply_url(call_a), data)
    assert response.status_code == 200
    assert "telephony/simulator.html" in [t.name for t in response.templates]
    form = response.context["reply_form"]
    assert error in " ".join(form.errors[field])
    html = response.content.decode().replace("&#x27;", "'")
    assert error.split("“")[0] in html  # shown to the person, next to the form

    response = client.post(reply_url(call_a), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200  # htmx swaps only 2xx answers
    html = response.content.decode().replace("&#x27;", "'")
    assert '<form id="sim-reply"' in html and 'hx-swap-oob="true"' in html
    assert error.split("“")[0] in html

    assert Message.objects.count() == before
    assert inbound() == []


def test_too_long_body_is_kept_in_the_form(client_for, tenant_a, call_a):
    body = "y" * 1601
    response = client_for(tenant_a.owner).post(reply_url(call_a), {"caller": CALLER, "body": body})
    assert body in response.content.decode()  # the person can shorten it instead of retyping


def test_simulate_reply_refuses_bad_input_itself(tenant_a, sim_a):
    real_number = PhoneNumberFactory(business=tenant_a.business, e164="+16282005008", provider="twilio")
    with pytest.raises(SimulationError, match="only simulator numbers"):
        simulate_reply(number=real_number, caller=CALLER, body="hi")
    with pytest.raises(SimulationError, match="not a valid phone number"):
        simulate_reply(number=sim_a, caller="12345", body="hi")
    with pytest.raises(SimulationError, match="at most 1,600 characters"):
        simulate_reply(number=sim_a, caller=CALLER, body="z" * 1601)
    with pytest.raises(SimulationError, match="Type the caller's text"):
        simulate_reply(number=sim_a, caller=CALLER, body="  ")
    assert not Message.objects.exists()


# --- htmx and the phone panel ------------------------------------------------------------------------------------


def test_htmx_reply_answers_with_the_phone_partial_and_a_fresh_form(client_for, tenant_a, call_a):
    response = client_for(tenant_a.owner).post(
        reply_url(call_a), {"caller": CALLER, "body": "Leak under the sink"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    names = [t.name for t in response.templates]
    assert "telephony/_simulator_phone.html" in names
    assert "telephony/simulator.html" not in names and "base.html" not in names
    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<div class="phone" id="sim-phone"')
    assert '<div class="bubble in">Leak under the sink' in html
    # the form comes back emptied, swapped out of band, still aimed at the phone
    form_html = html[html.index('<form id="sim-reply"') :]
    assert 'hx-swap-oob="true"' in form_html and 'hx-target="#sim-phone"' in form_html
    assert "Leak under the sink" not in form_html
    assert f'value="{CALLER}"' in form_html
    assert [m.body for m in inbound()] == ["Leak under the sink"]


def test_simulator_page_offers_the_reply_form(client_for, tenant_a, call_a):
    html = client_for(tenant_a.owner).get(reverse("simulator", args=["acme"]) + f"?call={call_a.pk}").content.decode()
    assert "Reply as the caller" in html
    assert f'action="{reply_url(call_a)}"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert f'<input type="hidden" name="caller" value="{CALLER}"' in html
    assert 'maxlength="1600"' in html
    # the form sits outside the phone that htmx refreshes every 2 s, so typing survives the refresh
    assert html.index("</div>", html.index('id="sim-phone"')) < html.index('<form id="sim-reply"')


def test_no_reply_form_for_a_withheld_caller(client_for, tenant_a, sim_a):
    call = simulate_call(number=sim_a, caller="anonymous", outcome="no-answer")
    html = client_for(tenant_a.owner).get(reverse("simulator", args=["acme"]) + f"?call={call.pk}").content.decode()
    assert "Reply as the caller" not in html


def phone(client, call: Call) -> str:
    url = reverse("simulator", args=[call.business.slug]) + f"?call={call.pk}"
    return client.get(url, HTTP_HX_REQUEST="true").content.decode()


def test_phone_shows_the_delivery_status_of_each_text_sent(client_for, tenant_a, call_a):
    client = client_for(tenant_a.owner)
    textback = Message.objects.get(kind=Message.Kind.TEXTBACK)
    assert 'data-status="queued">Queued</span>' in phone(client, call_a)

    send_message(message_id=textback.pk)  # the simulator carrier "delivers" at once
    textback.refresh_from_db()
    assert textback.status == Message.Status.DELIVERED
    assert 'data-status="delivered">Delivered</span>' in phone(client, call_a)

    Message.objects.filter(pk=textback.pk).update(status=Message.Status.SENT)
    assert 'data-status="sent">Sent</span>' in phone(client, call_a)

    Message.objects.filter(pk=textback.pk).update(
        status=Message.Status.FAILED, error_code="30006", error_message="The number cannot receive texts."
    )
    html = phone(client, call_a)
    assert 'data-status="failed">Failed</span>: The number cannot receive texts.' in html


def test_phone_shows_the_thread_oldest_first(client_for, tenant_a, call_a):
    client = client_for(tenant_a.owner)
    for body in ("first from caller", "second from caller"):
        client.post(reply_url(call_a), {"caller": CALLER, "body": body})
    textback = Message.objects.get(kind=Message.Kind.TEXTBACK)
    now = timezone.now()
    Message.objects.filter(pk=textback.pk).update(created_at=now - dt.timedelta(minutes=3))
    Message.objects.filter(body="first from caller").update(created_at=now - dt.timedelta(minutes=2))
    Message.objects.filter(body="second from caller").update(created_at=now - dt.timedelta(minutes=1))
    html = phone(client, call_a)
    positions = [html.index(text) for text in (textback.body[:20], "first from caller", "second from caller")]
    assert positions == sorted(positions)


def test_phone_shows_only_the_thread_with_the_calls_number(client_for, tenant_a, sim_a, call_a):
    other_line = PhoneNumberFactory(business=tenant_a.business, e164="+16282005001", provider="simulator")
    simulate_reply(number=other_line, caller=CALLER, body="texted the other line")
    simulate_reply(number=sim_a, caller=CALLER, body="texted the main line")
    html = phone(client_for(tenant_a.owner), call_a)
    assert "texted the main line" in html
    assert "texted the other line" not in html

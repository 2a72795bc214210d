"""The call simulator: every outcome through the same services Twilio's webhooks use, the owners-only page with
its simulated phone, and the `simulate_call` command."""

import datetime as dt
import io
import json

import phonenumbers
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from messaging.models import Message
from telephony import services
from telephony.models import BlockedNumber, Call
from telephony.simulation import SimulationError, random_caller, simulate_call
from tenants.models import BusinessHours
from tenants.permissions import OWNERS
from tests.factories import PhoneNumberFactory
from tests.tenancy import assert_guarded

pytestmark = pytest.mark.django_db

CALLER = "+14152418001"


def open_all_week(business) -> None:
    BusinessHours.objects.filter(business=business).delete()
    for weekday in range(7):
        BusinessHours.objects.create(business=business, weekday=weekday, opens=dt.time(0), closes=dt.time(0))


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


def textbacks(call: Call) -> list[Message]:
    return list(Message.objects.filter(kind=Message.Kind.TEXTBACK, to_number=call.caller, business=call.business))


# --- simulate_call ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        ("no-answer", Call.MissedReason.NO_ANSWER),
        ("busy", Call.MissedReason.BUSY),
        ("voicemail", Call.MissedReason.VOICEMAIL_PICKUP),
        ("caller-hangup", Call.MissedReason.CALLER_HUNG_UP),
    ],
)
def test_missed_outcomes_queue_exactly_one_text_back(sim_a, outcome, reason):
    call = simulate_call(number=sim_a, caller=CALLER, outcome=outcome)
    assert call.provider_call_id.startswith("CA") and len(call.provider_call_id) == 34
    assert (call.status, call.missed_reason, call.decision) == (Call.Status.MISSED, reason, Call.Decision.TEXTED)
    assert call.decision_reason == "Text-back queued."
    assert call.ended_at is not None
    [message] = textbacks(call)
    assert (message.status, message.direction, message.from_number) == ("queued", "out", sim_a.e164)
    assert message.idempotency_key == f"textback:{call.provider_call_id}"
    assert call.conversation is not None and message.conversation_id == call.conversation_id
    assert call.contact.phone == CALLER


def test_answered_call_is_not_texted(sim_a):
    call = simulate_call(number=sim_a, caller=CALLER, outcome="answered")
    assert (call.status, call.missed_reason, call.decision) == (Call.Status.ANSWERED, "", Call.Decision.NOT_MISSED)
    assert call.accepted_at is not None and call.duration == 42
    assert call.decision_reason == "Answered by a person."
    assert textbacks(call) == []


def test_voicemail_without_screening_looks_answered(sim_a):
    sim_a.screening = False
    sim_a.save()
    call = simulate_call(number=sim_a, caller=CALLER, outcome="voicemail")
    assert (call.status, call.decision) == (Call.Status.ANSWERED, Call.Decision.NOT_MISSED)
    assert textbacks(call) == []


@pytest.mark.parametrize("outcome", ["answered", "no-answer", "caller-hangup"])
def test_forwarded_mode_is_missed_at_once(sim_a, outcome):
    sim_a.mode = "forwarded"
    sim_a.save()
    call = simulate_call(number=sim_a, caller=CALLER, outcome=outcome)
    assert (call.status, call.missed_reason, call.decision) == ("missed", "forwarded", "texted")
    assert len(textbacks(call)) == 1


def test_closed_hours_are_missed_at_once(sim_a):
    BusinessHours.objects.filter(business=sim_a.business).delete()
    call = simulate_call(number=sim_a, caller=CALLER, outcome="answered")
    assert (call.status, call.missed_reason, call.decision) == ("missed", "after_hours", "texted")
    assert len(textbacks(call)) == 1


def test_anonymous_caller_is_recorded_not_texted(sim_a):
    call = simulate_call(number=sim_a, caller="Anonymous", outcome="no-answer")
    assert (call.status, call.decision, call.caller, call.from_raw) == ("missed", "spam", "", "anonymous")
    assert not Message.objects.exists()


def test_blocked_caller_is_not_texted(sim_a):
    BlockedNumber.objects.create(business=sim_a.business, e164=CALLER)
    call = simulate_call(number=sim_a, caller="(415) 241-8001", outcome="busy")
    assert (call.status, call.decision) == ("missed", "blocked")
    assert not Message.objects.exists()


def test_second_missed_call_inside_the_window_is_not_texted_again(sim_a):
    first = simulate_call(number=sim_a, caller=CALLER, outcome="no-answer")
    second = simulate_call(number=sim_a, caller=CALLER, outcome="busy")
    assert first.provider_call_id != second.provider_call_id
    assert second.decision == Call.Decision.REPEAT
    assert Message.objects.filter(kind="textback").count() == 1
    assert second.conversation_id == first.conversation_id


def test_drives_the_same_services_as_the_webhooks(sim_a, monkeypatch):
    seen = []
    for name in ("call_incoming", "call_screen_accept", "call_dial_result", "call_status_changed"):
        real = getattr(services, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            event = kwargs.get("event")
            seen.append(
                (_name, getattr(event, "dial_status", None) or getattr(event, "status", None) or kwargs.get("digits"))
            )
            return _real(*args, **kwargs)

        monkeypatch.setattr(services, name, spy)
    simulate_call(number=sim_a, caller=CALLER, outcome="answered")
    assert seen == [
        ("call_incoming", None),
        ("call_screen_accept", "1"),
        ("call_dial_result", "completed"),
        ("call_status_changed", "completed"),
    ]
    seen.clear()
    simulate_call(number=sim_a, caller="+14152418002", outcome="caller-hangup")
    assert seen == [("call_incoming", None), ("call_status_changed", "completed")]


def test_refuses_real_carrier_numbers_and_bad_input(tenant_a):
    twilio_number = PhoneNumberFactory(business=tenant_a.business, provider="twilio")
    with pytest.raises(SimulationError, match="only simulator numbers"):
        simulate_call(number=twilio_number, caller=CALLER, outcome="no-answer")
    sim = PhoneNumberFactory(business=tenant_a.business, provider="simulator")
    with pytest.raises(SimulationError, match="Unknown outcome"):
        simulate_call(number=sim, caller=CALLER, outcome="ring-forever")
    with pytest.raises(SimulationError, match="not a valid phone number"):
        simulate_call(number=sim, caller="12345", outcome="busy")
    assert not Call.objects.exists()


def test_random_callers_are_valid_mobiles():
    for _ in range(20):
        caller = random_caller()
        assert caller.startswith("+14152")
        assert phonenumbers.is_valid_number(phonenumbers.parse(caller))


# --- the page --------------------------------------------------------------------------------------------------


def sim_url(tenant, **query) -> str:
    url = reverse("simulator", args=[tenant.business.slug])
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


def test_simulator_page_is_for_owners_only(client_for, tenant_a, tenant_b, sim_a):
    assert_guarded(client_for, sim_url(tenant_a), own=tenant_a, other=tenant_b, allowed_roles=OWNERS)
    data = {"number": sim_a.pk, "caller": CALLER, "outcome": "no-answer"}
    assert_guarded(
        client_for, sim_url(tenant_a), own=tenant_a, other=tenant_b, allowed_roles=OWNERS, method="post", data=data
    )
    assert Call.objects.filter(business=tenant_a.business).count() == 1


def test_simulator_page_is_404_without_a_simulator_number(client_for, tenant_a):
    PhoneNumberFactory(business=tenant_a.business, provider="twilio")
    client = client_for(tenant_a.owner)
    assert client.get(sim_url(tenant_a)).status_code == 404
    assert client.post(sim_url(tenant_a), {"caller": CALLER, "outcome": "busy"}).status_code == 404


def test_place_a_call_and_watch_the_text_arrive(client_for, tenant_a, sim_a):
    client = client_for(tenant_a.owner)
    page = client.get(sim_url(tenant_a)).content.decode()
    assert sim_a.e164 in page or "(628) 200-5000" in page
    response = client.post(sim_url(tenant_a), {"number": sim_a.pk, "caller": "415 241 8001", "outcome": "busy"})
    call = Call.objects.get()
    assert response.status_code == 302
    assert response["Location"] == sim_url(tenant_a, call=call.pk, outcome="busy")
    html = client.get(response["Location"]).content.decode()
    assert "Line busy" in html and "Text-back queued." in html
    message = Message.objects.get(kind="textback")
    assert f'<div class="bubble out">{message.body}' in html.replace("&#x27;", "'")
    assert 'hx-trigger="every 2s"' in html
    assert 'id="sim-phone"' in html


def test_phone_partial_for_htmx_polling(client_for, tenant_a, sim_a):
    call = simulate_call(number=sim_a, caller=CALLER, outcome="no-answer")
    Message.objects.create(
        business=tenant_a.business,
        phone_number=sim_a,
        direction="in",
        kind="inbound",
        from_number=CALLER,
        to_number=sim_a.e164,
        body="My sink is leaking",
        status="received",
        provider="simulator",
    )
    response = client_for(tenant_a.owner).get(sim_url(tenant_a, call=call.pk), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "<form" not in html
    assert html.lstrip().startswith('<div class="phone" id="sim-phone"')
    assert '<div class="bubble in">My sink is leaking' in html
    assert html.index('class="bubble out"') < html.index("My sink is leaking")


def test_phone_shows_only_this_business_texts(client_for, tenant_a, tenant_b, sim_a, sim_b):
    mine = simulate_call(number=sim_a, caller=CALLER, outcome="no-answer")
    theirs = simulate_call(number=sim_b, caller=CALLER, outcome="no-answer")
    html = client_for(tenant_a.owner).get(sim_url(tenant_a, call=mine.pk)).content.decode()
    assert "Bolt" not in html
    assert html.count('class="bubble out"') == 1
    # another business's call id under my slug shows nothing of it
    html = client_for(tenant_a.owner).get(sim_url(tenant_a, call=theirs.pk)).content.decode()
    assert "Bolt" not in html and 'id="sim-phone"' not in html
    response = client_for(tenant_a.owner).get(sim_url(tenant_a, call=theirs.pk), HTTP_HX_REQUEST="true")
    assert "Bolt" not in response.content.decode()


def test_simulator_form_errors(client_for, tenant_a, sim_a, sim_b):
    client = client_for(tenant_a.owner)
    response = client.post(sim_url(tenant_a), {"number": sim_a.pk, "caller": "not a number", "outcome": "busy"})
    assert response.status_code == 200
    assert "is not a phone number" in " ".join(response.context["form"].errors["caller"])
    response = client.post(sim_url(tenant_a), {"number": sim_b.pk, "caller": CALLER, "outcome": "busy"})
    assert "number" in response.context["form"].errors
    response = client.post(sim_url(tenant_a), {"number": sim_a.pk, "caller": CALLER, "outcome": "explode"})
    assert "outcome" in response.context["form"].errors
    assert not Call.objects.exists()


def test_simulator_form_offers_only_my_simulator_numbers(client_for, tenant_a, sim_a, sim_b):
    PhoneNumberFactory(business=tenant_a.business, e164="+16282005001", provider="twilio")
    form = client_for(tenant_a.owner).get(sim_url(tenant_a)).context["form"]
    assert list(form.fields["number"].queryset) == [sim_a]
    assert phonenumbers.is_valid_number(phonenumbers.parse(form.fields["caller"].initial))


def test_slot_for_replying_as_the_caller(client_for, tenant_a, sim_a):
    call = simulate_call(number=sim_a, caller=CALLER, outcome="no-answer")
    response = client_for(tenant_a.owner).get(sim_url(tenant_a, call=call.pk))
    assert "telephony/_simulator_reply.html" in [t.name for t in response.templates]


# --- the command -----------------------------------------------------------------------------------------------


def run_simulate(*args: str) -> dict:
    out = io.StringIO()
    call_command("simulate_call", *args, stdout=out)
    return json.loads(out.getvalue())


def test_simulate_call_command_against_the_demo_produces_a_missed_call_and_a_text_back():
    call_command("seed_demo", stdout=io.StringIO())
    result = run_simulate("--to", "+1 415 523 8886", "--from", "+14152419000", "--outcome", "no-answer")
    call = Call.objects.get(provider_call_id=result["call_id"])
    assert result["status"] == "missed" == call.status
    # the demo keeps office hours: at night the call is missed as after hours, by day as unanswered
    assert result["missed_reason"] in ("no_answer", "after_hours")
    assert result["decision"] == "texted"
    message = Message.objects.get(pk=result["message_id"])
    assert (message.kind, message.status, message.to_number) == ("textback", "queued", "+14152419000")
    assert call.business.slug == "acme"


def test_simulate_call_command_answered_has_no_message(sim_a):
    result = run_simulate("--to", sim_a.e164, "--from", CALLER, "--outcome", "answered")
    assert (result["status"], result["decision"], result["message_id"]) == ("answered", "not_missed", None)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "+16282009999", "--from", CALLER, "--outcome", "busy"], "no business has the number"),
        (["--to", "nope", "--from", CALLER, "--outcome", "busy"], "--to"),
        (["--to", "+16282005000", "--from", "42", "--outcome", "busy"], "--from"),
        (["--to", "+16282005000", "--from", CALLER, "--outcome", "voicemail-ish"], "Unknown --outcome"),
    ],
)
def test_simulate_call_command_errors(sim_a, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("simulate_call", *args, stdout=io.StringIO())
    assert not Call.objects.exists()


def test_simulate_call_command_refuses_a_twilio_number(tenant_a):
    PhoneNumberFactory(business=tenant_a.business, e164="+16282007000", provider="twilio")
    with pytest.raises(CommandError, match="only simulator numbers"):
        call_command("simulate_call", "--to", "+16282007000", "--from", CALLER, "--outcome", "busy")

"""The out-of-area reply: territory routing, a caller's intake form with a ZIP code no territory covers, the owner's
polite text sent once (never to an opted-out number, never on the carrier's guess of a ZIP)."""

import pytest

from compliance.models import AuditEvent
from inbox.models import Conversation, ResponseSettings, RoutingSettings, Territory
from intake.services import intake_link_for, intake_submit
from messaging.models import Message
from tests import twilio
from tests.numbers import CALLER, NUMBER_A

pytestmark = pytest.mark.django_db

REPLY = "Sorry {first_name}, {business} only works in San Francisco. Try Bay Area Plumbers: (415) 555-0100."


@pytest.fixture
def territories(tenant_a, number_a):
    business = tenant_a.business
    RoutingSettings.objects.create(business=business, mode=RoutingSettings.Mode.TERRITORY)
    city = Territory.objects.create(business=business, name="City", zip_prefixes=["941"])
    city.assignees.set([tenant_a.operator])
    ResponseSettings.objects.create(business=business, out_of_area_reply=REPLY)
    return city


def call_then_form(zip_code: str, *, name: str = "Dana Lee", incoming: bool = False) -> Conversation:
    """A missed call (with Twilio's incoming-call webhook and its CallerZip 94103 when `incoming`), then the
    caller's intake form."""
    call_sid = twilio.sid("CA")
    if incoming:
        params = twilio.payload("voice_incoming", call_sid=call_sid, caller=CALLER, number=NUMBER_A)
        assert twilio.post("/webhooks/twilio/voice/", params).status_code == 200
    twilio.missed_call(call_sid)
    conversation = Conversation.objects.get(contact__phone=CALLER)
    submit(conversation, zip_code=zip_code, name=name)
    return conversation


def submit(conversation: Conversation, *, zip_code: str, name: str = "Dana Lee"):
    data = {"name": name, "description": "Leaky tap", "zip_code": zip_code}
    return intake_submit(link=intake_link_for(conversation=conversation), data=data, photos=None, language="en")


def out_of_area():
    return Message.objects.filter(kind=Message.Kind.OUT_OF_AREA)


def test_a_zip_outside_every_territory_gets_the_reply_once(territories, tenant_a):
    conversation = call_then_form("10001")
    message = out_of_area().get()
    assert message.body == (
        "Sorry Dana, Acme Plumbing only works in San Francisco. Try Bay Area Plumbers: (415) 555-0100."
    )  # not the caller's first text (the text-back was), so no opt-out line
    assert (message.conversation, message.to_number, message.from_number) == (conversation, CALLER, NUMBER_A)
    assert (message.status, message.trigger, message.trigger_detail) == ("queued", "rule", "out_of_area:10001")
    assert message.get_kind_display() == "Out-of-area reply"  # how the timeline labels it
    audit = AuditEvent.objects.get(action="conversation.out_of_area_reply")
    assert audit.detail == {"message_id": message.pk, "zip": "10001"}
    # the caller corrects the form, or sends it again: still one reply
    submit(conversation, zip_code="10002")
    submit(conversation, zip_code="10001-1234")
    assert out_of_area().count() == 1
    # the conversation still went round the team, so someone sees it
    conversation.refresh_from_db()
    assert conversation.assignee_id is not None


@pytest.mark.parametrize(
    "setup",
    ["inside a territory", "no territories", "round robin", "no reply written", "opted out", "no zip"],
)
def test_no_reply_when_it_does_not_apply(territories, tenant_a, setup):
    zip_code = "10001"
    if setup == "inside a territory":
        zip_code = "94110"
    elif setup == "no territories":
        Territory.objects.all().delete()
    elif setup == "round robin":
        RoutingSettings.objects.update(mode=RoutingSettings.Mode.ROUND_ROBIN)
    elif setup == "no reply written":
        ResponseSettings.objects.update(out_of_area_reply="  ")
    elif setup == "opted out":
        from compliance.models import ConsentEvent
        from compliance.services import consent_record

        consent_record(business=tenant_a.business, phone=CALLER, kind=ConsentEvent.Kind.OPT_OUT, source_ref="SMtest")
    else:
        zip_code = ""
    call_then_form(zip_code)
    assert not out_of_area().exists()


def test_not_on_the_carriers_guess_but_on_the_callers_own_zip(territories, tenant_a):
    """CallerZip 94103 routes the call into the City territory; the caller's form then says 10001."""
    Territory.objects.filter(pk=territories.pk).update(zip_prefixes=["100"])  # the carrier's 94103 is now outside
    twilio_zip_conversation = call_then_form("", incoming=True)
    assert not out_of_area().exists()  # the guess alone turns nobody away
    submit(twilio_zip_conversation, zip_code="94103")
    message = out_of_area().get()
    assert message.trigger_detail == "out_of_area:94103"


def test_a_caller_who_was_never_texted_gets_the_opt_out_line(territories, tenant_a):
    from inbox.models import Contact
    from tests.factories import ConversationFactory

    contact = Contact.objects.create(business=tenant_a.business, phone="+14158675310", name="Kim")
    conversation = ConversationFactory(contact=contact, phone_number=territories.business.phone_numbers.get())
    submit(conversation, zip_code="10001", name="Kim Park")
    assert out_of_area().get().body.endswith("(415) 555-0100. Reply STOP to opt out.")

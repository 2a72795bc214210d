"""The follow-up nudge: scheduled with the text-back, sent once by the sweeper to a caller who stayed silent, never
after a reply (theirs or ours), an opened intake link or an opt-out, and held for the caller's quiet hours."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from compliance.models import AuditEvent
from inbox.models import Conversation, ResponseSettings, Timer
from inbox.services import message_reply
from inbox.timers import sweep_timers
from intake.models import IntakeLink
from intake.services import intake_link_opened, intake_url
from messaging.models import Message
from messaging.sending import send_message
from tests import twilio
from tests.numbers import CALLER, NUMBER_A

pytestmark = pytest.mark.django_db

PACIFIC = ZoneInfo("America/Los_Angeles")  # CALLER is a 415 (San Francisco) number
# Monday, 1 pm in San Francisco
MONDAY_1PM = dt.datetime(2026, 1, 5, 13, 0, tzinfo=PACIFIC)
TWO_HOURS = dt.timedelta(hours=2)


def follow_ups():
    return Message.objects.filter(kind=Message.Kind.FOLLOW_UP)


def text_from_caller(body: str, *, caller: str = CALLER):
    params = twilio.payload("sms_inbound", message_sid=twilio.sid("SM"), body="{body}", caller=caller, number=NUMBER_A)
    params["Body"] = body
    assert twilio.post("/webhooks/twilio/sms/", params).status_code == 200


def missed_call_at(time_machine, when: dt.datetime, *, caller: str = CALLER, sent: bool = True) -> Conversation:
    """A missed call; its text-back is marked sent (no worker runs here) unless `sent` is False."""
    time_machine.move_to(when, tick=False)
    twilio.missed_call(caller=caller)
    if sent:
        Message.objects.filter(kind=Message.Kind.TEXTBACK, to_number=caller, status="queued").update(status="sent")
    return Conversation.objects.get(contact__phone=caller)


def sweep_at(time_machine, when: dt.datetime) -> dict:
    time_machine.move_to(when, tick=False)
    return sweep_timers()


def test_the_text_back_schedules_it_after_the_owners_delay(number_a, time_machine):
    conversation = missed_call_at(time_machine, MONDAY_1PM)
    timer = Timer.objects.get(conversation=conversation, kind=Timer.Kind.FOLLOW_UP)
    assert timer.due_at == MONDAY_1PM + TWO_HOURS and timer.fired_at is None

    ResponseSettings.objects.filter(business=number_a.business).update(follow_up_delay_minutes=45)
    later = missed_call_at(time_machine, MONDAY_1PM, caller="+14158675310")
    assert Timer.objects.get(conversation=later, kind="follow_up").due_at == MONDAY_1PM + dt.timedelta(minutes=45)

    ResponseSettings.objects.filter(business=number_a.business).update(follow_up_enabled=False)
    off = missed_call_at(time_machine, MONDAY_1PM, caller="+14158675311")
    assert not Timer.objects.filter(conversation=off, kind="follow_up").exists()


def test_a_silent_caller_gets_one_polite_follow_up(number_a, time_machine):
    conversation = missed_call_at(time_machine, MONDAY_1PM)
    assert sweep_at(time_machine, MONDAY_1PM + TWO_HOURS - dt.timedelta(seconds=1)).get("fired", 0) == 1  # SLA only
    assert not follow_ups().exists()

    due = MONDAY_1PM + TWO_HOURS
    assert sweep_at(time_machine, due + dt.timedelta(seconds=4)) == {"fired": 1}
    message = follow_ups().get()
    link = IntakeLink.objects.get(conversation=conversation)
    assert message.body == (
        f"Acme Plumbing here, following up on your call. Still need a hand? Just reply, or tell us about the job: "
        f"{intake_url(link)} Reply STOP to opt out."
    )
    assert (message.conversation, message.to_number, message.from_number) == (conversation, CALLER, NUMBER_A)
    assert (message.trigger, message.trigger_detail) == (Message.Trigger.RULE, "follow_up:120min")
    assert message.status == Message.Status.QUEUED and message.idempotency_key == f"follow_up:{conversation.pk}"
    assert message.next_attempt_at == due + dt.timedelta(seconds=4)  # 3 pm: inside the caller's window, goes now
    conversation.refresh_from_db()
    assert conversation.follow_up_sent_at == due + dt.timedelta(seconds=4)
    assert AuditEvent.objects.get(action="conversation.follow_up").detail == {
        "message_id": message.pk,
        "held_until": None,
    }

    # at most one, ever: nothing more from the sweeper, nor after another missed call in the same conversation
    sweep_at(time_machine, due + dt.timedelta(hours=5))
    twilio.missed_call()
    assert Message.objects.filter(kind=Message.Kind.TEXTBACK).count() == 2
    assert not Timer.objects.filter(conversation=conversation, kind="follow_up", fired_at__isnull=True).exists()
    sweep_at(time_machine, due + dt.timedelta(days=2))
    assert follow_ups().count() == 1


def test_the_owners_template_is_used_and_a_broken_one_falls_back(number_a, time_machine):
    ResponseSettings.objects.create(business=number_a.business, follow_up_template="{business}: still need us?")
    missed_call_at(time_machine, MONDAY_1PM)
    sweep_at(time_machine, MONDAY_1PM + TWO_HOURS)
    assert follow_ups().get().body == "Acme Plumbing: still need us? Reply STOP to opt out."

    ResponseSettings.objects.filter(business=number_a.business).update(follow_up_template="Hi {nope}")
    missed_call_at(time_machine, MONDAY_1PM, caller="+14158675310")
    sweep_at(time_machine, MONDAY_1PM + TWO_HOURS)
    assert follow_ups().get(to_number="+14158675310").body.startswith("Acme Plumbing here, following up")


@pytest.mark.parametrize(
    "what",
    ["caller texted", "intake link opened", "team replied", "closed", "follow-ups turned off", "text-back refused"],
)
def test_no_follow_up_when_the_caller_or_the_team_moved(number_a, tenant_a, time_machine, what):
    conversation = missed_call_at(time_machine, MONDAY_1PM)
    time_machine.move_to(MONDAY_1PM + dt.timedelta(minutes=30), tick=False)
    if what == "caller texted":
        text_from_caller("yes please call me")
    elif what == "intake link opened":
        intake_link_opened(link=IntakeLink.objects.get(conversation=conversation))
    elif what == "team replied":
        message_reply(conversation=conversation, body="Hi, Sam here from Acme", user=tenant_a.operator)
    elif what == "text-back refused":  # a landline, say (carrier error 30006)
        Message.objects.filter(kind=Message.Kind.TEXTBACK).update(status=Message.Status.UNDELIVERED)
    elif what == "closed":
        Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.CLOSED)
    else:
        ResponseSettings.objects.filter(business=number_a.business).update(follow_up_enabled=False)
    sweep_at(time_machine, MONDAY_1PM + TWO_HOURS)
    assert Timer.objects.get(conversation=conversation, kind="follow_up").fired_at is not None
    assert not follow_ups().exists()
    conversation.refresh_from_db()
    assert conversation.follow_up_sent_at is None


def test_never_to_an_opted_out_number(number_a, time_machine):
    conversation = missed_call_at(time_machine, MONDAY_1PM)
    time_machine.move_to(MONDAY_1PM + dt.timedelta(minutes=5), tick=False)
    text_from_caller("STOP")  # a keyword: not a reply that would stop the follow-up by itself
    sweep_at(time_machine, MONDAY_1PM + TWO_HOURS)
    assert not follow_ups().exists()
    conversation.refresh_from_db()
    assert conversation.follow_up_sent_at is None


def test_an_opt_out_after_it_was_queued_still_wins_at_send_time(number_a, time_machine):
    """The sending worker's suppression check is the backstop for a STOP arriving while the row waits."""
    missed_call_at(time_machine, dt.datetime(2026, 1, 5, 19, 30, tzinfo=PACIFIC))
    sweep_at(time_machine, dt.datetime(2026, 1, 5, 21, 30, tzinfo=PACIFIC))  # 9:30 pm: held until morning
    message = follow_ups().get()
    assert message.next_attempt_at == dt.datetime(2026, 1, 6, 8, 0, tzinfo=PACIFIC)
    text_from_caller("stop")
    time_machine.move_to(dt.datetime(2026, 1, 6, 8, 0, 1, tzinfo=PACIFIC), tick=False)
    assert send_message(message_id=message.pk) == "nothing to claim"
    message.refresh_from_db()
    assert (message.status, message.error_code) == (Message.Status.FAILED, "opted_out")


@pytest.mark.parametrize(
    ("caller", "zone", "called_at", "sent_at"),
    [
        # San Francisco: due 10:30 pm, waits for 8 am
        ("+14158675309", "America/Los_Angeles", (2026, 1, 5, 20, 30), (2026, 1, 6, 8, 0)),
        # Florida's window closes at 8 pm: due 8:15 pm, waits for 8 am
        ("+13052361234", "America/New_York", (2026, 1, 5, 18, 15), (2026, 1, 6, 8, 0)),
        # Texas on a Sunday opens at noon: due 10 am, waits for 12 pm
        ("+15122362000", "America/Chicago", (2026, 1, 4, 8, 0), (2026, 1, 4, 12, 0)),
        # due 3 pm in San Francisco: goes at once
        ("+14158675309", "America/Los_Angeles", (2026, 1, 5, 13, 0), (2026, 1, 5, 15, 0)),
    ],
)
def test_deferred_into_the_callers_quiet_hours(number_a, fake_twilio, time_machine, caller, zone, called_at, sent_at):
    tz = ZoneInfo(zone)
    called_at, sent_at = dt.datetime(*called_at, tzinfo=tz), dt.datetime(*sent_at, tzinfo=tz)
    missed_call_at(time_machine, called_at, caller=caller)
    sweep_at(time_machine, called_at + TWO_HOURS)
    message = follow_ups().get()
    assert message.next_attempt_at == sent_at
    if sent_at > called_at + TWO_HOURS:
        assert (
            AuditEvent.objects.get(action="conversation.follow_up").detail["held_until"]
            == sent_at.astimezone(dt.UTC).isoformat()
        )
        # a worker that picks it up early sends nothing
        assert send_message(message_id=message.pk) == "nothing to claim"
        time_machine.move_to(sent_at - dt.timedelta(seconds=1), tick=False)
        assert send_message(message_id=message.pk) == "nothing to claim"
    time_machine.move_to(sent_at, tick=False)
    assert send_message(message_id=message.pk) == "sent"
    assert [request["Body"] for request in fake_twilio.requests if "following up" in request["Body"]] == [message.body]


def test_waits_while_the_text_back_is_still_held_then_follows_a_delay_later(number_a, time_machine):
    conversation = missed_call_at(time_machine, MONDAY_1PM, sent=False)  # e.g. held for quiet hours or retrying
    sweep_at(time_machine, MONDAY_1PM + TWO_HOURS)
    assert not follow_ups().exists()
    timer = Timer.objects.get(conversation=conversation, kind="follow_up", fired_at__isnull=True)
    assert timer.due_at == MONDAY_1PM + 2 * TWO_HOURS  # re-armed, not dropped
    Message.objects.filter(kind=Message.Kind.TEXTBACK).update(status="delivered")
    sweep_at(time_machine, MONDAY_1PM + 2 * TWO_HOURS)
    assert follow_ups().count() == 1


def test_no_follow_up_after_the_team_called_back(number_a, time_machine):
    conversation = missed_call_at(time_machine, MONDAY_1PM)
    Conversation.objects.filter(pk=conversation.pk).update(first_response_at=MONDAY_1PM + dt.timedelta(minutes=5))
    sweep_at(time_machine, MONDAY_1PM + TWO_HOURS)
    assert not follow_ups().exists()

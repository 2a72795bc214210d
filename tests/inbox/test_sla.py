"""Answer-time targets: a caller waiting on the business starts a timer (business hours vs after hours), the sweeper
fires it on time (no more than one sweep late), a person's action cancels it in its own transaction, a reply racing
a due timer ends with exactly one outcome, and two sweepers never fire one timer twice. Also: a negated urgent word
in a caller's text, through the signed SMS webhook, only starts the answer-time timer."""

import datetime as dt
import threading
import time
from unittest import mock

import pytest
from django.db import connection, transaction

from compliance.models import AuditEvent
from inbox import sla
from inbox.actions import conversation_assign, conversation_set_status
from inbox.models import (
    Conversation,
    ConversationEvent,
    Escalation,
    Notification,
    ResponseSettings,
    Timer,
)
from inbox.services import message_reply
from inbox.timers import sweep_timers, timer_fire
from intake.services import intake_link_for, intake_submit
from tenants.models import BusinessHours
from tests import twilio
from tests.factories import ContactFactory, ConversationFactory, HolidayFactory
from tests.numbers import CALLER, NUMBER_A

SWEEP_EVERY = dt.timedelta(seconds=5)  # the beat schedule of inbox.tasks.sweep_timers
NY = dt.timezone(dt.timedelta(hours=-5))  # America/New_York in winter (EST), for readable test times
MONDAY_10AM = dt.datetime(2026, 1, 5, 10, 0, tzinfo=NY)
Kind = Timer.Kind


def sla_timers(conversation, **filters):
    return Timer.objects.filter(conversation=conversation, kind__in=sla.SLA_KINDS, **filters)


def pending(conversation) -> Timer:
    return sla_timers(conversation, fired_at__isnull=True, cancelled_at__isnull=True).get()


def text_from_caller(body: str, *, caller: str = CALLER):
    params = twilio.payload("sms_inbound", message_sid=twilio.sid("SM"), body="{body}", caller=caller, number=NUMBER_A)
    params["Body"] = body
    response = twilio.post("/webhooks/twilio/sms/", params)
    assert response.status_code == 200
    return response


def weekday_hours(business) -> None:
    """Monday to Friday, 8 am to 5 pm (the business is in New York)."""
    BusinessHours.objects.filter(business=business).delete()
    BusinessHours.objects.bulk_create(
        BusinessHours(business=business, weekday=d, opens=dt.time(8), closes=dt.time(17)) for d in range(5)
    )


# --- starting the clock --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_missed_call_during_business_hours_is_due_in_15_minutes(number_a, time_machine):
    time_machine.move_to(MONDAY_10AM, tick=False)
    twilio.missed_call()
    conversation = Conversation.objects.get()
    timer = pending(conversation)
    assert (timer.kind, timer.due_at) == (Kind.SLA_ASSIGNEE, MONDAY_10AM + dt.timedelta(minutes=15))
    assert timer.business_id == number_a.business_id


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("local_time", "due"),
    [
        # Tuesday 10:40 pm: due at Wednesday's opening + 15 minutes
        (dt.datetime(2026, 1, 6, 22, 40, tzinfo=NY), dt.datetime(2026, 1, 7, 8, 15, tzinfo=NY)),
        # Friday 5:30 pm: the weekend is closed, so Monday 8:15 am
        (dt.datetime(2026, 1, 9, 17, 30, tzinfo=NY), dt.datetime(2026, 1, 12, 8, 15, tzinfo=NY)),
        # Sunday 6 am, with Monday a holiday: Tuesday 8:15 am
        (dt.datetime(2026, 1, 18, 6, 0, tzinfo=NY), dt.datetime(2026, 1, 20, 8, 15, tzinfo=NY)),
        # early Monday morning: the same day's opening
        (dt.datetime(2026, 1, 5, 7, 0, tzinfo=NY), dt.datetime(2026, 1, 5, 8, 15, tzinfo=NY)),
    ],
)
def test_after_hours_the_deadline_is_the_next_opening_plus_the_after_hours_target(
    number_a, time_machine, local_time, due
):
    weekday_hours(number_a.business)
    HolidayFactory(business=number_a.business, date=dt.date(2026, 1, 19), name="MLK Day")
    time_machine.move_to(local_time, tick=False)
    twilio.missed_call()
    assert pending(Conversation.objects.get()).due_at == due


@pytest.mark.django_db
def test_own_targets_and_turning_them_off(number_a, time_machine):
    weekday_hours(number_a.business)
    ResponseSettings.objects.create(business=number_a.business, sla_open_minutes=5, sla_closed_minutes=45)
    time_machine.move_to(MONDAY_10AM, tick=False)
    twilio.missed_call()
    assert pending(Conversation.objects.get()).due_at == MONDAY_10AM + dt.timedelta(minutes=5)
    sunday = dt.datetime(2026, 1, 11, 12, 0, tzinfo=NY)
    time_machine.move_to(sunday, tick=False)
    twilio.missed_call(caller="+14158675310")
    later = Conversation.objects.get(contact__phone="+14158675310")
    assert pending(later).due_at == dt.datetime(2026, 1, 12, 8, 45, tzinfo=NY)

    ResponseSettings.objects.filter(business=number_a.business).update(sla_enabled=False)
    twilio.missed_call(caller="+14158675311")
    assert not sla_timers(Conversation.objects.get(contact__phone="+14158675311")).exists()


@pytest.mark.django_db
def test_a_first_text_starts_the_clock_and_more_texts_do_not_push_it_later(number_a, time_machine):
    time_machine.move_to(MONDAY_10AM, tick=False)
    text_from_caller("Hi, do you do water heaters?")
    conversation = Conversation.objects.get()
    due = pending(conversation).due_at
    assert due == MONDAY_10AM + dt.timedelta(minutes=15)
    time_machine.move_to(MONDAY_10AM + dt.timedelta(minutes=10), tick=False)
    text_from_caller("Hello??")
    assert pending(conversation).due_at == due  # the caller waiting longer does not move the deadline later
    assert sla_timers(conversation).count() == 1


@pytest.mark.django_db
def test_keywords_and_teammates_do_not_start_the_clock(number_a, tenant_a, time_machine):
    time_machine.move_to(MONDAY_10AM, tick=False)
    twilio.missed_call()
    conversation = Conversation.objects.get()
    message_reply(conversation=conversation, body="Hi! What's going on?", user=tenant_a.operator)
    text_from_caller("HELP")  # answered by the compliance code, not waiting on a person
    assert not sla_timers(conversation, cancelled_at__isnull=True).exists()
    tenant_a.operator.phone = "+14155550199"
    tenant_a.operator.save()
    text_from_caller("on my way to the job", caller="+14155550199")  # a teammate's own phone
    teammate = Conversation.objects.get(contact__phone="+14155550199")
    assert not sla_timers(teammate).exists()


@pytest.mark.django_db
def test_a_text_or_intake_form_after_our_reply_starts_it_again(number_a, tenant_a, time_machine):
    time_machine.move_to(MONDAY_10AM, tick=False)
    twilio.missed_call()
    conversation = Conversation.objects.get()
    message_reply(conversation=conversation, body="Hi! What's going on?", user=tenant_a.operator)
    assert not sla_timers(conversation, cancelled_at__isnull=True).exists()

    time_machine.move_to(MONDAY_10AM + dt.timedelta(minutes=30), tick=False)
    text_from_caller("The kitchen tap drips")
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN
    assert pending(conversation).due_at == MONDAY_10AM + dt.timedelta(minutes=45)

    message_reply(conversation=conversation, body="We can come at 2.", user=tenant_a.operator)
    time_machine.move_to(MONDAY_10AM + dt.timedelta(hours=1), tick=False)
    intake_submit(
        link=intake_link_for(conversation=conversation), data={"description": "drip"}, photos=None, language="en"
    )
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN  # the ball is back with the business
    assert pending(conversation).due_at == MONDAY_10AM + dt.timedelta(hours=1, minutes=15)


# --- firing --------------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_fires_on_time_reminds_then_tells_the_owners(number_a, tenant_a, time_machine):
    time_machine.move_to(MONDAY_10AM, tick=False)
    twilio.missed_call()
    conversation = Conversation.objects.get()
    due = pending(conversation).due_at

    time_machine.move_to(due - dt.timedelta(seconds=1), tick=False)
    assert sweep_timers() == {}
    assert not Notification.objects.filter(kind=Notification.Kind.SLA).exists()

    # the first sweep at or after the due time fires it: at most one sweep late
    time_machine.move_to(due + SWEEP_EVERY - dt.timedelta(seconds=1), tick=False)
    fired_at = due + SWEEP_EVERY - dt.timedelta(seconds=1)
    assert sweep_timers() == {"fired": 1}
    first = Timer.objects.get(conversation=conversation, kind=Kind.SLA_ASSIGNEE)
    assert first.fired_at == fired_at and first.fired_at - first.due_at < SWEEP_EVERY
    # nobody is assigned: everyone who follows unassigned conversations' texts is reminded
    reminders = list(Notification.objects.filter(kind=Notification.Kind.SLA, conversation=conversation))
    everyone = {tenant_a.owner.pk, tenant_a.admin.pk, tenant_a.operator.pk}
    assert {n.user_id for n in reminders} == everyone
    assert all(n.due_at == fired_at for n in reminders)  # goes at the next notification sweep
    assert "has waited 15 min" in reminders[0].text and "(415) 867-5309" in reminders[0].text
    event = ConversationEvent.objects.get(conversation=conversation, kind=ConversationEvent.Kind.ESCALATED)
    assert event.actor is None and event.data["rule"] == "sla" and event.data["step"] == "assignee"
    assert event.data["reason"] == "no answer after 15 min, reminded the team"
    audit = AuditEvent.objects.get(action="conversation.sla_missed")
    assert audit.detail["step"] == "assignee" and sorted(audit.detail["told"]) == sorted(everyone)
    assert sweep_timers() == {}  # fired once

    # the same target again, then the owners
    owner_timer = pending(conversation)
    assert (owner_timer.kind, owner_timer.due_at) == (Kind.SLA_OWNER, fired_at + dt.timedelta(minutes=15))
    time_machine.move_to(owner_timer.due_at, tick=False)
    assert sweep_timers() == {"fired": 1}
    told = Notification.objects.filter(kind=Notification.Kind.SLA, conversation=conversation).exclude(
        pk__in=[n.pk for n in reminders]
    )
    assert list(told.values_list("user_id", flat=True)) == [tenant_a.owner.pk]
    assert "(assigned to nobody)" in told.get().text
    assert AuditEvent.objects.filter(action="conversation.sla_missed").count() == 2
    assert not sla_timers(conversation, fired_at__isnull=True, cancelled_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_the_assignee_alone_is_reminded_even_if_they_mute_text_alerts(number_a, tenant_a, time_machine):
    from inbox.models import MemberSettings
    from tenants.models import Membership

    time_machine.move_to(MONDAY_10AM, tick=False)
    twilio.missed_call()
    conversation = Conversation.objects.get()
    Conversation.objects.filter(pk=conversation.pk).update(assignee=tenant_a.operator)  # by a rule, not a person
    membership = Membership.objects.get(business=tenant_a.business, user=tenant_a.operator)
    MemberSettings.objects.create(membership=membership, business=tenant_a.business, notify_new_message=False)
    time_machine.move_to(MONDAY_10AM + dt.timedelta(minutes=15), tick=False)
    sweep_timers()
    reminder = Notification.objects.get(kind=Notification.Kind.SLA)
    assert reminder.user == tenant_a.operator
    assert ConversationEvent.objects.get(kind="escalated").data["reason"].endswith("reminded the assignee")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("status", ["waiting", "snoozed", "closed", "booked"])
def test_a_conversation_no_longer_waiting_on_the_business_is_left_alone(number_a, time_machine, status):
    time_machine.move_to(MONDAY_10AM, tick=False)
    twilio.missed_call()
    conversation = Conversation.objects.get()
    Conversation.objects.filter(pk=conversation.pk).update(status=status)  # changed without a person (rules, API)
    time_machine.move_to(MONDAY_10AM + dt.timedelta(minutes=16), tick=False)
    assert sweep_timers() == {"fired": 1}
    assert not Notification.objects.filter(kind=Notification.Kind.SLA).exists()
    assert not ConversationEvent.objects.filter(kind="escalated").exists()
    assert not sla_timers(conversation, fired_at__isnull=True, cancelled_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_turning_targets_off_silences_timers_already_running(number_a, time_machine):
    time_machine.move_to(MONDAY_10AM, tick=False)
    twilio.missed_call()
    ResponseSettings.objects.filter(business=number_a.business).update(sla_enabled=False)
    time_machine.move_to(MONDAY_10AM + dt.timedelta(minutes=16), tick=False)
    assert sweep_timers() == {"fired": 1}
    assert not Notification.objects.filter(kind=Notification.Kind.SLA).exists()


# --- a person acting stops it --------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("action", ["reply", "assign", "status"])
def test_a_persons_action_cancels_the_timer_in_its_own_transaction(number_a, tenant_a, time_machine, action):
    time_machine.move_to(MONDAY_10AM, tick=False)
    twilio.missed_call()
    conversation = Conversation.objects.get()
    timer = pending(conversation)
    do = {
        "reply": lambda: message_reply(conversation=conversation, body="On it", user=tenant_a.operator),
        "assign": lambda: conversation_assign(
            conversation=conversation, assignee=tenant_a.operator, actor=tenant_a.operator
        ),
        "status": lambda: conversation_set_status(conversation=conversation, status="open", actor=tenant_a.admin),
    }[action]

    # an action whose transaction fails leaves the timer running...
    with pytest.raises(RuntimeError), transaction.atomic():
        do()
        raise RuntimeError("the request failed after the action")
    timer.refresh_from_db()
    assert timer.cancelled_at is None

    # ...and one that commits cancels it with it: the sweeper then does nothing
    do()
    timer.refresh_from_db()
    assert timer.cancelled_at is not None and timer.cancel_reason.startswith("conversation.")
    time_machine.move_to(MONDAY_10AM + dt.timedelta(hours=1), tick=False)
    assert sweep_timers() == {}
    assert not Notification.objects.filter(kind=Notification.Kind.SLA).exists()


@pytest.mark.django_db
def test_stop_with_nothing_pending_is_one_cheap_statement(tenant_a, django_assert_num_queries):
    conversation = ConversationFactory(contact=ContactFactory(business=tenant_a.business))
    with django_assert_num_queries(1):
        assert sla.sla_stop(conversation=conversation, reason="conversation.note") == 0


# --- races ---------------------------------------------------------------------------------------------------------


def _in_thread(target, results: dict, key: str):
    def run():
        try:
            results[key] = target()
        except Exception as exc:  # surfaced by the assertions below
            results[key] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _due_conversation(time_machine) -> tuple[Conversation, Timer]:
    time_machine.move_to(MONDAY_10AM, tick=False)
    twilio.missed_call()
    conversation = Conversation.objects.get()
    timer = pending(conversation)
    time_machine.move_to(timer.due_at + dt.timedelta(seconds=1), tick=False)
    return conversation, timer


def _outcome(conversation: Conversation, timer: Timer) -> str:
    """ "reply first" or "alert first", after asserting the state is one of the two whole outcomes."""
    timer.refresh_from_db()
    alerts = Notification.objects.filter(kind=Notification.Kind.SLA, conversation=conversation).count()
    owner_timers = Timer.objects.filter(conversation=conversation, kind=Kind.SLA_OWNER)
    assert (timer.fired_at is None) != (timer.cancelled_at is None), "a timer is fired or cancelled, never both"
    if timer.cancelled_at is not None:
        assert alerts == 0 and not owner_timers.exists() and not ConversationEvent.objects.filter(kind="escalated")
        return "reply first"
    assert alerts == 3 and ConversationEvent.objects.filter(kind="escalated").count() == 1
    # the reply came after the alert: it stopped the owners' step
    assert owner_timers.get().cancelled_at is not None
    return "alert first"


@pytest.mark.django_db(transaction=True)
def test_reply_committed_first_wins_and_the_timer_does_nothing(number_a, tenant_a, time_machine):
    conversation, timer = _due_conversation(time_machine)
    replied, reply_may_commit = threading.Event(), threading.Event()
    results = {}
    real_stop = sla.sla_stop

    def slow_stop(**kwargs):  # the reply holds the locks while the sweeper tries
        count = real_stop(**kwargs)
        replied.set()
        assert reply_may_commit.wait(10)
        return count

    with mock.patch("inbox.sla.sla_stop", slow_stop):
        reply = _in_thread(
            lambda: message_reply(conversation=conversation, body="On it", user=tenant_a.operator), results, "reply"
        )
        assert replied.wait(10)
        assert timer_fire(timer.pk) == "busy"  # the caller's row is locked: left for the next sweep
        reply_may_commit.set()
        reply.join(10)
    assert not isinstance(results["reply"], Exception), results["reply"]
    assert timer_fire(timer.pk) == "done"  # cancelled by the reply that committed first
    assert _outcome(conversation, timer) == "reply first"


@pytest.mark.django_db(transaction=True)
def test_timer_fired_first_then_the_reply_stops_the_rest(number_a, tenant_a, time_machine):
    conversation, timer = _due_conversation(time_machine)
    alerting, fire_may_commit = threading.Event(), threading.Event()
    results = {}
    from inbox import notifications

    real_notify = notifications.notify_answer_time

    def slow_notify(*args, **kwargs):  # the sweeper holds the locks while the reply waits
        rows = real_notify(*args, **kwargs)
        alerting.set()
        assert fire_may_commit.wait(10)
        return rows

    with mock.patch.object(notifications, "notify_answer_time", slow_notify):
        fire = _in_thread(lambda: timer_fire(timer.pk), results, "fire")
        assert alerting.wait(10)
        reply = _in_thread(
            lambda: message_reply(conversation=conversation, body="On it", user=tenant_a.operator), results, "reply"
        )
        reply.join(0.5)
        assert reply.is_alive()  # waiting for the contact's lock, not deciding on stale state
        fire_may_commit.set()
        fire.join(10)
        reply.join(10)
    assert results["fire"] == "fired"
    assert not isinstance(results["reply"], Exception), results["reply"]
    assert _outcome(conversation, timer) == "alert first"


@pytest.mark.django_db(transaction=True)
def test_a_reply_racing_a_due_timer_yields_one_outcome(number_a, tenant_a, time_machine):
    """Started at the same instant, many times: every run ends in one of the two whole outcomes."""
    outcomes = []
    for run in range(6):
        Conversation.objects.all().delete()
        AuditEvent.objects.all().delete()
        conversation, timer = _due_conversation(time_machine)
        barrier = threading.Barrier(2)
        results = {}

        def reply(conversation=conversation, barrier=barrier, run=run):
            barrier.wait(5)
            return message_reply(conversation=conversation, body=f"On it {run}", user=tenant_a.operator)

        def fire(timer=timer, barrier=barrier):
            barrier.wait(5)
            for _ in range(100):  # "busy": the reply holds the caller's row; the next sweep tries again
                outcome = timer_fire(timer.pk)
                if outcome != "busy":
                    return outcome
                time.sleep(0.05)
            return outcome

        threads = [_in_thread(reply, results, "reply"), _in_thread(fire, results, "fire")]
        for thread in threads:
            thread.join(20)
        assert not isinstance(results["reply"], Exception), results["reply"]
        assert results["fire"] in ("fired", "done"), results["fire"]
        outcomes.append(_outcome(conversation, timer))
    assert set(outcomes) <= {"reply first", "alert first"}


@pytest.mark.django_db(transaction=True)
def test_two_sweepers_never_fire_a_timer_twice(number_a, tenant_a, time_machine):
    time_machine.move_to(MONDAY_10AM, tick=False)
    for n in range(12):
        twilio.missed_call(caller=f"+1415867{5400 + n:04d}")
    assert Timer.objects.filter(kind=Kind.SLA_ASSIGNEE).count() == 12
    time_machine.move_to(MONDAY_10AM + dt.timedelta(minutes=20), tick=False)
    barrier = threading.Barrier(2)
    results = {}

    def sweeper():
        barrier.wait(5)
        return sweep_timers()

    threads = [_in_thread(sweeper, results, "a"), _in_thread(sweeper, results, "b")]
    for thread in threads:
        thread.join(30)
    fired = results["a"].get("fired", 0) + results["b"].get("fired", 0)
    # whatever one sweeper skipped as busy, the next sweep fires
    fired += sweep_timers().get("fired", 0)
    assert fired == 12
    assert Timer.objects.filter(kind=Kind.SLA_ASSIGNEE, fired_at__isnull=False).count() == 12
    assert Notification.objects.filter(kind=Notification.Kind.SLA).count() == 12 * 3  # three members, once each
    assert ConversationEvent.objects.filter(kind="escalated").count() == 12
    assert Timer.objects.filter(kind=Kind.SLA_OWNER).count() == 12


# --- urgency through the real webhook ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_negated_urgent_word_through_the_signed_webhook_does_not_trigger(number_a, time_machine):
    ResponseSettings.objects.create(business=number_a.business, trades=["plumbing"])
    time_machine.move_to(MONDAY_10AM, tick=False)
    text_from_caller("Not urgent, it's not an emergency - no leak, just a quote for a new water heater")
    conversation = Conversation.objects.get()
    assert (conversation.priority, conversation.urgent_reason) == ("normal", "")
    assert not Escalation.objects.exists()
    assert not AuditEvent.objects.filter(action="conversation.urgent").exists()
    assert pending(conversation).kind == Kind.SLA_ASSIGNEE  # it still waits on a person, at the normal pace

    text_from_caller("Actually the pipe burst, water everywhere!", caller="+14158675312")
    urgent = Conversation.objects.get(contact__phone="+14158675312")
    assert urgent.priority == "urgent" and urgent.urgent_reason == "“burst” in a text"

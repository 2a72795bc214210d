"""Members' alerts: who gets what for each event, and the sweeper that sends each member's pending alerts as one
email and one text (exactly once, even with two sweepers racing)."""

import datetime as dt
import smtplib
import threading
from unittest import mock

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from compliance.models import ConsentEvent
from compliance.services import consent_record
from inbox import notifications
from inbox.models import Conversation, MemberSettings, Note, Notification
from inbox.notifications import (
    notify_inbound_message,
    notify_mentions,
    notify_new_conversation,
    notify_urgent,
    sweep_notifications,
)
from inbox.selectors import conversation_timeline, inbox_page
from intake.models import IntakeSubmission
from intake.services import intake_link_for, intake_submit
from messaging.models import Message
from messaging.sending import send_message
from tenants.models import Membership
from tests import twilio
from tests.factories import ContactFactory, ConversationFactory, PhoneNumberFactory, UserFactory
from tests.numbers import CALLER, NUMBER_A

pytestmark = pytest.mark.django_db

K = Notification.Kind
OWNER_PHONE = "+14155550111"
CALLER_PRETTY = "(415) 867-5309"


def prefs(tenant, role: str, **values) -> MemberSettings:
    membership = Membership.objects.get(business=tenant.business, user=tenant.user(role))
    row, _ = MemberSettings.objects.update_or_create(
        membership=membership, defaults={"business": tenant.business, **values}
    )
    return row


def rows(**filters) -> list[tuple[str, str]]:
    """(user email, kind) of the alerts written, sorted."""
    return sorted(Notification.objects.filter(**filters).values_list("user__email", "kind"))


def emails(tenant, *roles) -> list[str]:
    return sorted(tenant.user(role).email for role in roles)


def text_in(body: str, *, message_sid: str | None = None, caller: str = CALLER):
    params = twilio.payload(
        "sms_inbound", message_sid=message_sid or twilio.sid("SM"), body="{body}", caller=caller, number=NUMBER_A
    )
    params["Body"] = body
    response = twilio.post("/webhooks/twilio/sms/", params)
    assert response.status_code == 200
    return response


@pytest.fixture
def conversation_a(tenant_a, number_a) -> Conversation:
    """The caller's open conversation on tenant A's Twilio number."""
    contact = ContactFactory(business=tenant_a.business, phone=CALLER)
    return ConversationFactory(contact=contact, business=tenant_a.business, phone_number=number_a)


def later(time_machine, seconds: float) -> None:
    time_machine.move_to(timezone.now() + dt.timedelta(seconds=seconds), tick=False)


# --- who gets what -----------------------------------------------------------------------------------------------


def test_a_missed_call_alerts_every_member_who_wants_new_conversations(tenant_a, tenant_b, number_a, number_b):
    prefs(tenant_a, "admin", notify_new_conversation=False)
    before = timezone.now()
    twilio.missed_call()
    conversation = Conversation.objects.get(business=tenant_a.business)
    assert rows() == [(tenant_a.operator.email, K.NEW_CONVERSATION), (tenant_a.owner.email, K.NEW_CONVERSATION)]
    for alert in Notification.objects.all():
        assert alert.business_id == tenant_a.business.pk and alert.conversation_id == conversation.pk
        assert alert.text == f"New missed call from {CALLER_PRETTY}"
        assert before + dt.timedelta(seconds=29) < alert.due_at < timezone.now() + dt.timedelta(seconds=31)
        assert alert.sent_at is None


def test_a_first_text_alerts_a_new_conversation_and_its_message(tenant_a, tenant_b, number_a):
    text_in("Hi, water everywhere in the basement")
    assert rows(kind=K.NEW_CONVERSATION) == [
        (e, K.NEW_CONVERSATION) for e in emails(tenant_a, "admin", "operator", "owner")
    ]
    assert set(Notification.objects.filter(kind=K.NEW_CONVERSATION).values_list("text", flat=True)) == {
        f"New text from {CALLER_PRETTY}"
    }
    assert set(Notification.objects.filter(kind=K.NEW_MESSAGE).values_list("text", flat=True)) == {
        f"{CALLER_PRETTY}: Hi, water everywhere in the basement"
    }
    assert not Notification.objects.filter(user__memberships__business=tenant_b.business).exists()


def test_an_inbound_text_alerts_only_the_assignee_of_an_assigned_conversation(tenant_a, conversation_a):
    Conversation.objects.filter(pk=conversation_a.pk).update(assignee=tenant_a.operator)
    text_in("Are you coming today?")
    assert rows() == [(tenant_a.operator.email, K.NEW_MESSAGE)]


def test_an_inbound_text_on_an_unassigned_conversation_alerts_everyone_who_wants_it(tenant_a, conversation_a):
    prefs(tenant_a, "owner", notify_new_message=False)
    text_in("Hello?")
    assert rows() == [(e, K.NEW_MESSAGE) for e in emails(tenant_a, "admin", "operator")]


def test_an_assignee_who_turned_message_alerts_off_gets_none_and_nobody_else_does(tenant_a, conversation_a):
    Conversation.objects.filter(pk=conversation_a.pk).update(assignee=tenant_a.operator)
    prefs(tenant_a, "operator", notify_new_message=False)
    text_in("Hello?")
    assert rows() == []


def test_an_assignee_who_left_the_business_does_not_swallow_the_alert(tenant_a, conversation_a):
    Conversation.objects.filter(pk=conversation_a.pk).update(assignee=tenant_a.operator)
    Membership.objects.filter(business=tenant_a.business, user=tenant_a.operator).delete()
    text_in("Hello?")
    assert rows() == [(e, K.NEW_MESSAGE) for e in emails(tenant_a, "admin", "owner")]


def test_a_teammate_texting_the_business_number_is_not_a_lead(tenant_a, number_a):
    tenant_a.operator.phone = OWNER_PHONE
    tenant_a.operator.save()
    text_in("on it", caller=OWNER_PHONE)  # e.g. answering an alert text
    assert rows() == []


@pytest.mark.parametrize("body", ["STOP", "help", "Stop texting me"])
def test_compliance_keywords_alert_nobody(tenant_a, conversation_a, body):
    text_in(body)
    assert rows() == []


def test_start_after_stop_alerts_nobody_but_a_later_yes_is_a_message(tenant_a, conversation_a):
    text_in("STOP")
    text_in("START")
    assert rows() == []
    text_in("YES")  # from a subscribed caller, just a message
    assert len(rows()) == 3


def test_a_long_text_is_cut_to_80_characters_on_one_line(tenant_a, conversation_a):
    text_in("Line one\nline two " + "x" * 200)
    [text] = set(Notification.objects.values_list("text", flat=True))
    assert text.startswith(f"{CALLER_PRETTY}: Line one line two xxx") and text.endswith("...")
    assert len(text) == len(f"{CALLER_PRETTY}: ") + 80 + 3


def test_a_picture_without_words_says_so(tenant_a, conversation_a):
    message = Message.objects.create(
        business=tenant_a.business,
        conversation=conversation_a,
        direction="in",
        kind="inbound",
        from_number=CALLER,
        to_number=NUMBER_A,
        body="",
        media=[{"url": "https://api.twilio.com/x", "content_type": "image/jpeg"}],
        status="received",
        provider="twilio",
    )
    alerts = notify_inbound_message(message)
    assert {a.text for a in alerts} == {f"{CALLER_PRETTY} sent a picture"}


def test_urgent_goes_to_the_assignee_or_to_everyone_never_the_actor(tenant_a, tenant_b, conversation_a):
    notify_urgent(conversation_a, reason="marked urgent by Sam", actor=tenant_a.owner)
    assert rows() == [(e, K.URGENT) for e in emails(tenant_a, "admin", "operator")]
    alert = Notification.objects.first()
    assert alert.text == f"Urgent: {CALLER_PRETTY} - marked urgent by Sam"
    assert abs((alert.due_at - timezone.now()).total_seconds()) < 2  # no batching window for urgent

    Notification.objects.all().delete()
    conversation_a.assignee = tenant_a.operator
    notify_urgent(conversation_a, reason="marked urgent by Sam", actor=tenant_a.owner)
    assert rows() == [(tenant_a.operator.email, K.URGENT)]
    notify_urgent(conversation_a, reason="marked urgent again", actor=tenant_a.owner)  # still pending: no second
    assert rows() == [(tenant_a.operator.email, K.URGENT)]
    # the assignee marking it urgent themselves alerts nobody
    Notification.objects.all().delete()
    assert notify_urgent(conversation_a, reason="x", actor=tenant_a.operator) == []


def test_urgent_respects_the_preference(tenant_a, conversation_a):
    prefs(tenant_a, "admin", notify_urgent=False)
    notify_urgent(conversation_a, reason="x")
    assert rows() == [(e, K.URGENT) for e in emails(tenant_a, "operator", "owner")]


@pytest.mark.parametrize(("urgency", "alerted"), [("emergency", True), ("today", False), ("", False)])
def test_an_emergency_on_the_intake_form_is_urgent(tenant_a, conversation_a, urgency, alerted):
    link = intake_link_for(conversation=conversation_a)
    intake_submit(link=link, data={"description": "Pipe burst", "urgency": urgency}, photos=None, language="en")
    assert IntakeSubmission.objects.get().urgency == urgency
    expected = [(e, K.URGENT) for e in emails(tenant_a, "admin", "operator", "owner")] if alerted else []
    assert rows() == expected
    if alerted:
        assert Notification.objects.first().text == f"Urgent: {CALLER_PRETTY} - Emergency on the intake form"


def test_mentions_alert_the_mentioned_members_who_want_it_and_never_the_author_or_a_stranger(
    tenant_a, tenant_b, conversation_a
):
    sam = tenant_a.owner
    sam.full_name = "Sam Owner"
    sam.save()
    prefs(tenant_a, "admin", notify_mention=False)
    note = Note.objects.create(
        business=tenant_a.business, conversation=conversation_a, author=sam, body="@operator can you call them back?"
    )
    note.mentions.set([sam, tenant_a.admin, tenant_a.operator, tenant_b.operator])
    alerts = notify_mentions(note)
    assert rows() == [(tenant_a.operator.email, K.MENTION)]
    assert [a.text for a in alerts] == ["Sam Owner mentioned you: @operator can you call them back?"]
    assert alerts[0].due_at <= timezone.now()


def test_a_member_without_settings_gets_the_defaults_and_inactive_accounts_nothing(tenant_a, conversation_a):
    assert not MemberSettings.objects.exists()
    tenant_a.admin.is_active = False
    tenant_a.admin.save()
    notify_new_conversation(conversation_a)
    assert rows() == [(e, K.NEW_CONVERSATION) for e in emails(tenant_a, "operator", "owner")]


def test_another_business_is_never_alerted(tenant_a, tenant_b, conversation_a, number_b):
    notify_new_conversation(conversation_a)
    notify_urgent(conversation_a, reason="x")
    text_in("Hello?")
    members_b = {tenant_b.owner.pk, tenant_b.admin.pk, tenant_b.operator.pk}
    assert Notification.objects.exists()
    assert not Notification.objects.filter(user_id__in=members_b).exists()
    assert set(Notification.objects.values_list("business_id", flat=True)) == {tenant_a.business.pk}


# --- delivery ----------------------------------------------------------------------------------------------------


def test_a_burst_of_ten_texts_is_one_email_and_one_text_per_member(tenant_a, conversation_a, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    owner = tenant_a.owner
    owner.phone = OWNER_PHONE
    owner.save()
    prefs(tenant_a, "owner", by_sms=True)
    prefs(tenant_a, "admin", by_email=False)  # the lead's browser alert only: nothing to send
    for i in range(10):
        text_in(f"message {i}")
        later(time_machine, 1)
    assert Notification.objects.count() == 30

    assert sweep_notifications() == {}  # the first text's window (30 s) has not passed yet
    later(time_machine, 25)
    assert sweep_notifications() == {"sent": 3}
    assert sorted(m.to[0] for m in mail.outbox) == emails(tenant_a, "operator", "owner")
    email = mail.outbox[0]
    assert email.subject == "10 new in SecondDesk - Acme Plumbing"
    link = f"http://127.0.0.1:8000/app/acme/conversations/{conversation_a.pk}/"
    assert email.body.count(link) == 10 and f"{CALLER_PRETTY}: message 9" in email.body
    assert "http://127.0.0.1:8000/app/acme/me/" in email.body

    [sms] = Message.objects.filter(kind=Message.Kind.NOTIFICATION)
    assert (
        sms.to_number == OWNER_PHONE
        and sms.from_number == NUMBER_A
        and sms.phone_number_id == conversation_a.phone_number_id
    )
    assert sms.conversation_id is None and sms.trigger == Message.Trigger.SYSTEM
    assert sms.direction == Message.Direction.OUTBOUND and sms.status == Message.Status.QUEUED
    assert sms.body.startswith("SecondDesk - Acme Plumbing: 10 new\n") and sms.body.endswith(link)
    assert "and 7 more" in sms.body and sms.segments <= 2

    assert Notification.objects.filter(sent_at__isnull=True).count() == 0
    sent_at = set(Notification.objects.values_list("sent_at", flat=True))
    assert len(sent_at) == 1
    later(time_machine, 60)
    assert sweep_notifications() == {}
    assert len(mail.outbox) == 2 and Message.objects.filter(kind=Message.Kind.NOTIFICATION).count() == 1
    assert set(Notification.objects.values_list("sent_at", flat=True)) == sent_at


def test_an_urgent_alert_takes_the_pending_ones_with_it_at_once(tenant_a, conversation_a, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    prefs(tenant_a, "admin", by_email=False)
    prefs(tenant_a, "owner", by_email=False)
    text_in("the heater is making a noise")
    later(time_machine, 5)
    notify_urgent(conversation_a, reason="marked urgent by Sam", actor=tenant_a.owner)
    assert sweep_notifications() == {"sent": 2}  # operator (email) and admin (nothing to send)
    [email] = mail.outbox
    assert email.to == [tenant_a.operator.email] and email.subject == "Urgent - 2 new in SecondDesk - Acme Plumbing"
    assert email.body.index("Urgent: ") < email.body.index("the heater is making a noise")  # most important first
    assert not Notification.objects.filter(user=tenant_a.operator, sent_at__isnull=True).exists()
    # the owner's message alert keeps its own due time
    assert Notification.objects.filter(user=tenant_a.owner, sent_at__isnull=True).count() == 1


def test_the_alert_text_is_a_team_notification_outside_the_callers_thread(
    tenant_a, conversation_a, fake_twilio, time_machine
):
    time_machine.move_to(timezone.now(), tick=False)
    owner = tenant_a.owner
    owner.phone = OWNER_PHONE
    owner.save()
    prefs(tenant_a, "owner", by_sms=True)
    text_in("Can someone call me")
    # the caller, a different number, opted out since: that never blocks the member's alert
    consent_record(business=tenant_a.business, phone=CALLER, kind=ConsentEvent.Kind.OPT_OUT)
    later(time_machine, 31)
    sweep_notifications()
    sms = Message.objects.get(kind=Message.Kind.NOTIFICATION)
    assert send_message(message_id=sms.pk) == "sent"
    [request] = fake_twilio.requests
    assert request["To"] == OWNER_PHONE and request["From"] == NUMBER_A
    assert request["account_sid"] == twilio.ACCOUNT_SID  # the business's own carrier account

    conversation_a.refresh_from_db()
    assert conversation_a.last_outbound_at is None  # not a text to the caller
    timeline = conversation_timeline(
        conversation=Conversation.objects.select_related("contact").get(pk=conversation_a.pk)
    )
    assert sms.pk not in [item.obj.pk for item in timeline if item.kind == "message"]
    [row] = inbox_page(business_id=tenant_a.business.pk, user=owner, view="all").rows
    assert row.last_message_excerpt == "Can someone call me"


def test_a_member_who_replied_stop_gets_no_alert_texts(tenant_a, conversation_a, fake_twilio, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    owner = tenant_a.owner
    owner.phone = OWNER_PHONE
    owner.save()
    prefs(tenant_a, "owner", by_sms=True, by_email=False)
    consent_record(business=tenant_a.business, phone=OWNER_PHONE, kind=ConsentEvent.Kind.OPT_OUT)
    notify_urgent(conversation_a, reason="x")
    sweep_notifications()
    sms = Message.objects.get(kind=Message.Kind.NOTIFICATION)
    assert send_message(message_id=sms.pk) == "nothing to claim"
    sms.refresh_from_db()
    assert sms.status == Message.Status.FAILED and sms.error_code == "opted_out"
    assert fake_twilio.requests == []


def test_without_a_conversation_number_the_text_comes_from_the_business_first_number(tenant_a, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    first = PhoneNumberFactory(business=tenant_a.business, e164="+16282009001")
    PhoneNumberFactory(business=tenant_a.business, e164="+16282009000")
    conversation = ConversationFactory(contact=ContactFactory(business=tenant_a.business), phone_number=None)
    tenant_a.owner.phone = OWNER_PHONE
    tenant_a.owner.save()
    prefs(tenant_a, "owner", by_sms=True)
    notify_urgent(conversation, reason="x")
    sweep_notifications()
    sms = Message.objects.get(kind=Message.Kind.NOTIFICATION)
    assert sms.from_number == first.e164 and sms.phone_number_id == first.pk


def test_a_failed_email_is_retried_without_a_second_text_and_given_up_after_an_hour(
    tenant_a, conversation_a, time_machine
):
    time_machine.move_to(timezone.now(), tick=False)
    for role in ("admin", "operator"):
        prefs(tenant_a, role, notify_urgent=False, notify_new_conversation=False)
    tenant_a.owner.phone = OWNER_PHONE
    tenant_a.owner.save()
    prefs(tenant_a, "owner", by_sms=True)
    notify_urgent(conversation_a, reason="x")
    with mock.patch("inbox.notifications.send_mail", side_effect=smtplib.SMTPServerDisconnected("gone")):
        assert sweep_notifications() == {"retry": 1}
        [alert] = Notification.objects.all()
        assert alert.sent_at is None and alert.due_at > timezone.now()
        assert sweep_notifications() == {}  # not due again yet
        later(time_machine, 31)
        assert sweep_notifications() == {"retry": 1}  # the same batch again: its text is not sent twice
        assert Message.objects.filter(kind=Message.Kind.NOTIFICATION).count() == 1
        notify_new_conversation(conversation_a)  # joins the retry, and is texted even though email is down
        later(time_machine, 90)
        assert sweep_notifications() == {"retry": 1}
    assert Message.objects.filter(kind=Message.Kind.NOTIFICATION).count() == 2
    later(time_machine, 120)
    assert sweep_notifications() == {"sent": 1}
    [email] = mail.outbox
    assert email.subject == "Urgent - 2 new in SecondDesk - Acme Plumbing"
    assert Message.objects.filter(kind=Message.Kind.NOTIFICATION).count() == 2
    assert not Notification.objects.filter(sent_at__isnull=True).exists()

    # an outage longer than an hour: the batch is tried again less and less often, then dropped
    notify_urgent(conversation_a, reason="again")
    outcomes = []
    with mock.patch("inbox.notifications.send_mail", side_effect=OSError("connection refused")):
        while "gave up" not in outcomes and len(outcomes) < 20:
            outcomes.extend(sweep_notifications())
            later(time_machine, 600)
    assert outcomes == ["retry"] * 6 + ["gave up"]  # at 0 s, 10, 20, 30, 40 and 50 minutes; dropped at 60
    assert not Notification.objects.filter(sent_at__isnull=True).exists()
    assert len(mail.outbox) == 1


def test_a_member_who_left_gets_nothing(tenant_a, conversation_a, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    notify_urgent(conversation_a, reason="x")
    Membership.objects.filter(business=tenant_a.business, user=tenant_a.operator).delete()
    assert sweep_notifications() == {"sent": 2, "not a member": 1}
    assert tenant_a.operator.email not in [m.to[0] for m in mail.outbox]
    assert not Notification.objects.filter(user=tenant_a.operator).exists()


def test_a_broken_batch_does_not_block_the_others(tenant_a, conversation_a, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    notify_urgent(conversation_a, reason="x")
    real = notifications._send_email

    def flaky(*, business, user, rows):
        if user == tenant_a.admin:
            raise RuntimeError("a bug")
        real(business=business, user=user, rows=rows)

    with mock.patch("inbox.notifications._send_email", side_effect=flaky):
        assert sweep_notifications() == {"sent": 2, "retry": 1}
    assert Notification.objects.filter(sent_at__isnull=True).get().user == tenant_a.admin


@pytest.mark.django_db(transaction=True)
def test_two_sweepers_racing_send_each_alert_once(tenant_a, number_a):
    """Real transactions and threads: SKIP LOCKED hands each member's batch to one sweeper only."""
    business = tenant_a.business
    conversation = ConversationFactory(
        contact=ContactFactory(business=business, phone=CALLER), business=business, phone_number=number_a
    )
    members = [tenant_a.owner, tenant_a.admin, tenant_a.operator]
    for i in range(9):
        user = UserFactory(email=f"extra{i}@acme.test", phone=f"+1415555{i:04d}")
        Membership.objects.create(business=business, user=user, role=Membership.Role.OPERATOR)
        MemberSettings.objects.create(membership=user.memberships.get(), business=business, by_sms=True)
        members.append(user)
    due = timezone.now() - dt.timedelta(seconds=1)
    Notification.objects.bulk_create(
        Notification(
            business=business, user=user, conversation=conversation, kind=K.NEW_MESSAGE, text=f"t{n}", due_at=due
        )
        for user in members
        for n in range(5)
    )
    barrier = threading.Barrier(3)
    outcomes = []

    def sweeper():
        barrier.wait()
        outcomes.append(sweep_notifications())
        connection.close()

    with mock.patch("messaging.services.enqueue_send"):
        threads = [threading.Thread(target=sweeper) for _ in range(3)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    assert sum(o.get("sent", 0) for o in outcomes) == len(members)
    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in members)
    assert all(m.subject == "5 new in SecondDesk - Acme Plumbing" for m in mail.outbox)
    texts = Message.objects.filter(kind=Message.Kind.NOTIFICATION)
    assert sorted(texts.values_list("to_number", flat=True)) == sorted(u.phone for u in members[3:])
    assert not Notification.objects.filter(sent_at__isnull=True).exists()


def test_the_alert_text_puts_urgent_first_and_stays_short_when_a_caller_sends_emoji(
    tenant_a, conversation_a, time_machine
):
    time_machine.move_to(timezone.now(), tick=False)
    tenant_a.owner.phone = OWNER_PHONE
    tenant_a.owner.save()
    prefs(tenant_a, "owner", by_sms=True)
    text_in("The water heater is leaking all over the garage floor and I can't find the shutoff valve")
    text_in("Please hurry \U0001f64f")
    notify_urgent(conversation_a, reason="marked urgent by Sam")
    sweep_notifications()
    sms = Message.objects.get(kind=Message.Kind.NOTIFICATION)
    lines = sms.body.splitlines()
    assert lines[0] == "SecondDesk - Acme Plumbing: 3 new"
    assert lines[1] == f"Urgent: {CALLER_PRETTY} - marked urgent by Sam"
    assert lines[-1] == f"http://127.0.0.1:8000/app/acme/conversations/{conversation_a.pk}/"
    # all three would take four UCS-2 segments: the last item makes way
    assert lines[3] == "and 1 more" and sms.segments == 2 and sms.encoding == "GSM-7"

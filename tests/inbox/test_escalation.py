"""On-call paging end to end: an urgent text pages the person on call once, nobody answering pages the backup and
then the owners, any acknowledgement (an inbox action, a "1" from the paged phone, the page's link) stops the chain
and its timer in the same transaction, and timers are rows that survive Redis and worker restarts and fire once
even with sweepers racing. Texts come in through the signed Twilio webhook; time is moved with time_machine and the
sweeper is called directly."""

import datetime as dt
import os
import subprocess
import sys
import threading
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from compliance.models import AuditEvent, ConsentEvent
from inbox.escalation import (
    ack_reply,
    escalation_acknowledge,
    escalation_state,
    escalation_test,
    page_link,
    page_token,
)
from inbox.models import (
    Contact,
    Conversation,
    ConversationEvent,
    Escalation,
    Notification,
    OnCallMember,
    Page,
    ResponseSettings,
    Timer,
)
from inbox.timers import sweep_timers
from messaging.models import Message
from tenants.models import Membership, User
from tests import twilio
from tests.factories import ContactFactory, ConversationFactory
from tests.numbers import CALLER, NUMBER_A

pytestmark = pytest.mark.django_db

ON_CALL = "+14155550101"  # the operator, on call this week
BACKUP = "+14155550102"  # the admin, the backup
OWNER = "+14155550103"
T0 = dt.datetime(2026, 3, 4, 4, 0, tzinfo=dt.UTC)  # Tuesday 11 pm in New York
STEP = dt.timedelta(minutes=5)
SECOND = dt.timedelta(seconds=1)


@pytest.fixture
def team(tenant_a, number_a):
    """Tenant A with phones for everyone, the operator as the whole rotation and the admin as backup."""
    for role, phone in (("operator", ON_CALL), ("admin", BACKUP), ("owner", OWNER)):
        user = tenant_a.user(role)
        user.phone = phone
        user.save()
    business = tenant_a.business
    OnCallMember.objects.create(business=business, user=tenant_a.operator, position=0)
    ResponseSettings.objects.create(business=business, trades=["plumbing"], backup=tenant_a.admin)
    return tenant_a


@pytest.fixture
def at_t0(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


def text_in(body: str, *, caller: str = CALLER, message_sid: str | None = None) -> str:
    """A text to the business number through the signed webhook; returns its MessageSid."""
    message_sid = message_sid or twilio.sid("SM")
    params = twilio.payload("sms_inbound", message_sid=message_sid, body="{body}", caller=caller, number=NUMBER_A)
    params["Body"] = body
    response = twilio.post("/webhooks/twilio/sms/", params)
    assert response.status_code == 200
    return message_sid


def pages_to(phone: str) -> list[Message]:
    return list(
        Message.objects.filter(
            kind=Message.Kind.NOTIFICATION, to_number=phone, trigger_detail__startswith="escalation:"
        ).order_by("pk")
    )


def pending_escalate_timers():
    return Timer.objects.filter(kind=Timer.Kind.ESCALATE, fired_at__isnull=True, cancelled_at__isnull=True)


def at(time_machine, when: dt.datetime) -> None:
    time_machine.move_to(when, tick=False)


# --- paging -------------------------------------------------------------------------------------------------------


def test_an_urgent_text_pages_the_person_on_call_once(team, at_t0):
    text_in("burst pipe in basement")
    conversation = Conversation.objects.get()
    escalation = Escalation.objects.get()
    assert escalation.chain == [team.operator.pk, team.admin.pk, team.owner.pk]
    assert escalation.outcome == "running" and escalation.step == 0 and not escalation.is_test
    [page] = pages_to(ON_CALL)
    link = page_link(escalation, team.operator.pk)
    assert page.body == (
        f"URGENT Acme Plumbing: (415) 867-5309 'burst pipe in basement'. Reply 1 to take it, or open {link}"
    )
    assert page.from_number == NUMBER_A and page.conversation_id is None and page.status == "queued"
    assert page.segments <= 2 and page.encoding == "GSM-7"
    assert Page.objects.get().message == page
    [timer] = pending_escalate_timers()
    assert timer.due_at == T0 + STEP and timer.escalation == escalation and timer.conversation == conversation
    event = ConversationEvent.objects.get(kind="escalated")
    assert event.data["to"] == team.operator.pk and event.data["reason"] == "“burst pipe” in a text"
    assert {"escalation.start", "escalation.page"} <= set(AuditEvent.objects.values_list("action", flat=True))

    text_in("water everywhere now, flooding!")  # a second urgent text joins the running chain
    assert len(pages_to(ON_CALL)) == 1 and Escalation.objects.count() == 1
    assert pages_to(BACKUP) == [] and pages_to(OWNER) == []


def test_no_acknowledgement_pages_the_backup_then_the_owners_then_tells_them(team, at_t0):
    text_in("burst pipe in basement")
    conversation = Conversation.objects.get()
    at(at_t0, T0 + STEP - SECOND)
    sweep_timers()
    assert pages_to(BACKUP) == []

    at(at_t0, T0 + STEP + SECOND)  # one sweep after the due time
    assert sweep_timers().get("fired") == 1
    [backup_page] = pages_to(BACKUP)
    assert backup_page.body.startswith("URGENT Acme Plumbing: (415) 867-5309 'burst pipe in basement'.")
    assert len(pages_to(ON_CALL)) == 1  # nobody is paged twice
    [timer] = pending_escalate_timers()
    assert timer.due_at == T0 + 2 * STEP + SECOND

    at(at_t0, T0 + 2 * STEP + 2 * SECOND)
    sweep_timers()
    assert len(pages_to(OWNER)) == 1
    assert Escalation.objects.get().step == 2

    at(at_t0, T0 + 3 * STEP + 3 * SECOND)
    sweep_timers()
    escalation = Escalation.objects.get()
    assert escalation.outcome == "exhausted" and escalation.ended_at == T0 + 3 * STEP + 3 * SECOND
    assert not pending_escalate_timers().exists()
    told = Notification.objects.filter(kind="urgent", text__startswith="Nobody took the urgent page")
    assert [row.user for row in told] == [team.owner]
    [owner_text] = Message.objects.filter(idempotency_key__startswith="page_exhausted:")
    assert owner_text.to_number == OWNER and "nobody took the urgent page about (415) 867-5309" in owner_text.body
    assert str(conversation.pk) in owner_text.body
    outcomes = list(
        ConversationEvent.objects.filter(kind="escalated", data__rule="paging")
        .order_by("pk")
        .values_list("data__outcome", "data__to")
    )
    assert outcomes == [
        (None, team.operator.pk),
        (None, team.admin.pk),
        (None, team.owner.pk),
        ("exhausted", None),
    ]
    assert "escalation.exhausted" in set(AuditEvent.objects.values_list("action", flat=True))

    at(at_t0, T0 + 10 * STEP)
    sweep_timers()  # nothing more to page
    assert Page.objects.count() == 3 and Message.objects.filter(idempotency_key__startswith="page").count() == 4


def test_paging_off_pages_nobody(team, at_t0):
    ResponseSettings.objects.filter(business=team.business).update(paging_enabled=False)
    text_in("burst pipe in basement")
    assert Conversation.objects.get().priority == "urgent"  # still flagged in the inbox
    assert not Escalation.objects.exists() and pages_to(ON_CALL) == []


def test_with_nobody_to_page_no_escalation_starts_but_the_team_is_alerted(team, at_t0):
    User.objects.filter(pk__in=[team.owner.pk, team.admin.pk, team.operator.pk]).update(phone="")
    text_in("burst pipe in basement")
    assert not Escalation.objects.exists() and not pending_escalate_timers().exists()
    assert AuditEvent.objects.filter(action="escalation.nobody_to_page").exists()
    assert Notification.objects.filter(kind="urgent").count() == 3  # the ordinary urgent alert, by email


def test_the_chain_skips_people_who_left_duplicates_and_members_without_a_phone(team, at_t0):
    business = team.business
    ResponseSettings.objects.filter(business=business).update(backup=team.owner)  # backup is also an owner
    team.admin.phone = ""
    team.admin.save()
    Membership.objects.filter(business=business, user=team.admin).update(role="owner")
    Membership.objects.filter(business=business, user=team.operator).delete()  # the on-call person left
    text_in("burst pipe in basement")
    escalation = Escalation.objects.get()
    assert escalation.chain == [team.owner.pk]  # the admin (an owner now) has no phone; the owner once
    assert len(pages_to(OWNER)) == 1


def test_someone_who_replied_stop_meanwhile_is_skipped_when_their_turn_comes(team, at_t0):
    text_in("burst pipe in basement")
    text_in("STOP", caller=BACKUP)  # the backup (not paged yet) opts out of the business's texts
    assert ConsentEvent.objects.filter(phone=BACKUP, kind="opt_out").exists()
    at(at_t0, T0 + STEP + SECOND)
    sweep_timers()
    assert pages_to(BACKUP) == [] and len(pages_to(OWNER)) == 1
    event = ConversationEvent.objects.filter(kind="escalated", data__rule="paging").order_by("pk").last()
    assert event.data["to"] == team.owner.pk
    assert event.data["skipped"] == [
        {"to": team.admin.pk, "to_name": team.admin.display_name, "why": "replied STOP to the business's texts"}
    ]


# --- acknowledging ------------------------------------------------------------------------------------------------


def test_an_inbox_action_acknowledges_and_cancels_the_timer(team, at_t0, client_for):
    text_in("burst pipe in basement")
    conversation = Conversation.objects.get()
    at(at_t0, T0 + dt.timedelta(minutes=2))
    response = client_for(team.admin).post(
        reverse("conversation_note", args=[team.business.slug, conversation.pk]), {"body": "I'm calling them now"}
    )
    assert response.status_code in (200, 302)
    escalation = Escalation.objects.get()
    assert escalation.outcome == "acknowledged" and escalation.acknowledged_by == team.admin
    timer = Timer.objects.get(kind="escalate")
    assert timer.cancelled_at == T0 + dt.timedelta(minutes=2) and timer.cancel_reason == "acknowledged"
    event = ConversationEvent.objects.filter(kind="escalated", data__rule="paging").order_by("pk").last()
    assert event.actor == team.admin and event.data["outcome"] == "acknowledged"
    assert event.data["via"] == "conversation.note"
    at(at_t0, T0 + 4 * STEP)
    sweep_timers()
    assert pages_to(BACKUP) == [] and pages_to(OWNER) == []


def test_replying_1_to_the_page_takes_it_without_opening_a_conversation(team, at_t0):
    text_in("burst pipe in basement")
    conversation = Conversation.objects.get()
    at(at_t0, T0 + dt.timedelta(minutes=1))
    sid = text_in(" Ok! ", caller=ON_CALL)
    escalation = Escalation.objects.get()
    assert escalation.outcome == "acknowledged" and escalation.acknowledged_by == team.operator
    assert Timer.objects.get(kind="escalate").cancel_reason == "acknowledged"
    assert Conversation.objects.count() == 1 and not Contact.objects.filter(phone=ON_CALL).exists()
    inbound = Message.objects.get(provider_message_id=sid)
    assert inbound.conversation_id is None and inbound.from_number == ON_CALL and inbound.body == " Ok! "
    reply = Message.objects.get(idempotency_key=f"page_reply:{sid}")
    assert reply.to_number == ON_CALL and reply.kind == "notification" and reply.conversation_id is None
    assert reply.body.startswith("Got it - it's yours: (415) 867-5309. http")
    conversation.refresh_from_db()
    assert conversation.assignee == team.operator  # "it's yours"
    assert not Notification.objects.filter(text__contains="Ok!").exists()  # nobody is alerted about it

    text_in(" Ok! ", caller=ON_CALL, message_sid=sid)  # the carrier retries the webhook
    assert Message.objects.filter(provider_message_id=sid).count() == 1
    assert Message.objects.filter(to_number=ON_CALL, idempotency_key__startswith="page_reply:").count() == 1

    at(at_t0, T0 + 4 * STEP)
    sweep_timers()
    assert pages_to(BACKUP) == []


def test_a_late_1_learns_who_took_it_and_never_opens_a_conversation(team, at_t0):
    text_in("burst pipe in basement")
    text_in("1", caller=ON_CALL)
    later = text_in("1", caller=ON_CALL)
    assert Message.objects.get(idempotency_key=f"page_reply:{later}").body == (
        f"{team.operator.display_name} already took it."
    )
    never_paged = text_in("ACK", caller=OWNER)
    assert Message.objects.get(idempotency_key=f"page_reply:{never_paged}").body == "No urgent page is waiting for you."
    assert Conversation.objects.count() == 1
    assert not Contact.objects.filter(phone__in=[ON_CALL, OWNER]).exists()


def test_ack_with_a_code_picks_one_of_two_pages(team, at_t0, number_a):
    text_in("burst pipe in basement")
    other_caller = "+14158675310"
    text_in("flooding in the kitchen", caller=other_caller)
    first, second = Escalation.objects.order_by("pk")
    text_in(f"ack {first.ack_code}", caller=ON_CALL)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.outcome == "acknowledged" and second.outcome == "running"
    sid = text_in("1", caller=ON_CALL)  # a bare "1" takes the latest still running
    second.refresh_from_db()
    assert second.outcome == "acknowledged"
    assert Message.objects.get(idempotency_key=f"page_reply:{sid}").body.startswith(
        "Got it - it's yours: (415) 867-5310"
    )


def test_a_members_other_texts_during_a_page_are_kept_but_ignored(team, at_t0):
    text_in("burst pipe in basement")
    sid = text_in("on my way, 20 min", caller=ON_CALL)
    assert Message.objects.get(provider_message_id=sid).conversation_id is None
    assert Escalation.objects.get().outcome == "running"
    assert not Message.objects.filter(idempotency_key=f"page_reply:{sid}").exists()
    assert Conversation.objects.count() == 1


def test_a_members_stop_during_a_page_is_honoured_by_compliance(team, at_t0):
    text_in("burst pipe in basement")
    sid = text_in("STOP", caller=ON_CALL)
    inbound = Message.objects.get(provider_message_id=sid)
    assert inbound.conversation_id is None
    assert ConsentEvent.objects.filter(phone=ON_CALL, kind="opt_out", message=inbound).exists()
    assert Message.objects.filter(to_number=ON_CALL, kind="opt_out_confirm").count() == 1
    assert Escalation.objects.get().outcome == "running"  # STOP is not "I'll take it"


def test_a_caller_texting_1_is_just_a_caller_message(team, at_t0):
    text_in("burst pipe in basement")
    sid = text_in("1")
    conversation = Conversation.objects.get()
    assert Message.objects.get(provider_message_id=sid).conversation == conversation
    assert Escalation.objects.get().outcome == "running"
    assert not Message.objects.filter(idempotency_key=f"page_reply:{sid}").exists()


def test_a_member_of_another_business_is_a_caller_here(team, tenant_b, at_t0):
    tenant_b.operator.phone = "+14155550199"
    tenant_b.operator.save()
    text_in("burst pipe in basement")
    text_in("1", caller="+14155550199")
    assert Escalation.objects.get().outcome == "running"
    assert Conversation.objects.filter(contact__phone="+14155550199").exists()


@pytest.mark.parametrize(
    ("text", "code"),
    [("1", ""), (" ACK ", ""), ("ok!", ""), ("Okay.", ""), ("got it", ""), ("ACK 4821", "4821"), ("ack#4821", "4821")],
)
def test_acknowledgement_words(text, code):
    assert ack_reply(text) == code


@pytest.mark.parametrize("text", ["11", "ok but call me", "yes", "STOP", "", "ack 12"])
def test_not_acknowledgements(text):
    assert ack_reply(text) is None


def test_the_pages_link_shows_then_takes_the_page(team, at_t0):
    text_in("burst pipe in basement")
    escalation = Escalation.objects.get()
    url = reverse("page_ack", args=[page_token(escalation, team.operator.pk)])
    browser = Client(enforce_csrf_checks=True)  # no login: the link is the proof
    page = browser.get(url)
    assert page.status_code == 200 and "I'll take it" in page.content.decode()
    assert "(415) 867-5309" in page.content.decode()
    assert page["Cache-Control"].startswith("max-age=0")
    escalation.refresh_from_db()
    assert escalation.outcome == "running"  # looking (or a link preview) changes nothing

    assert browser.post(url).status_code == 403  # no CSRF token
    token = page.cookies["csrftoken"].value
    taken = browser.post(
        url, {"csrfmiddlewaretoken": page.context["csrf_token"]}, headers={"Cookie": f"csrftoken={token}"}
    )
    assert taken.status_code == 302
    escalation.refresh_from_db()
    assert escalation.outcome == "acknowledged" and escalation.acknowledged_by == team.operator
    assert not pending_escalate_timers().exists()
    assert Conversation.objects.get().assignee == team.operator
    assert "It's yours" in browser.get(url).content.decode()
    assert ConversationEvent.objects.filter(kind="escalated", data__via="link").exists()


def test_a_forged_or_foreign_link_is_a_404(team, at_t0):
    text_in("burst pipe in basement")
    escalation = Escalation.objects.get()
    token = page_token(escalation, team.operator.pk)
    escalation_id, user_id, signature = token.split(".")
    for forged in (
        f"{escalation_id}.{team.admin.pk}.{signature}",  # someone else's page with this signature
        f"{escalation_id}.{user_id}.{signature[:-2]}xx",
        "1.2.3",
        "nonsense",
    ):
        assert Client().get(f"/p/{forged}/").status_code == 404
        assert Client().post(f"/p/{forged}/").status_code in (403, 404)
    stranger = page_token(escalation, team.owner.pk + 999)  # correctly signed, but not in the chain
    assert Client().get(reverse("page_ack", args=[stranger])).status_code == 404
    assert Escalation.objects.get().outcome == "running"


def test_the_conversation_shows_the_paging_state(team, at_t0):
    text_in("burst pipe in basement")
    conversation = Conversation.objects.get()
    state = escalation_state(conversation)
    assert state["running"] and state["current"]["name"] == team.operator.display_name
    assert state["next_name"] == team.admin.display_name and state["next_at"] == T0 + STEP
    text_in("1", caller=ON_CALL)
    state = escalation_state(conversation)
    assert not state["running"] and state["outcome"] == "acknowledged"
    assert state["acknowledged_by"] == team.operator.display_name
    assert escalation_state(Conversation(pk=0, business=team.business)) is None


def test_the_paging_partial_renders_each_state(team, at_t0):
    text_in("burst pipe in basement")
    conversation = Conversation.objects.get()
    html = render_to_string(
        "inbox/_escalation.html", {"escalation": escalation_state(conversation), "business": team.business}
    )
    assert "Paging" in html and team.operator.display_name in html and f"{team.admin.display_name} is next" in html
    text_in("1", caller=ON_CALL)
    html = render_to_string(
        "inbox/_escalation.html", {"escalation": escalation_state(conversation), "business": team.business}
    )
    assert "Taken" in html and f"{team.operator.display_name} took it" in html
    assert render_to_string("inbox/_escalation.html", {"escalation": None, "business": team.business}).strip() == ""


def test_acknowledging_costs_one_query_when_nothing_is_running(team, django_assert_num_queries):
    conversation = ConversationFactory(contact=ContactFactory(business=team.business), business=team.business)
    with django_assert_num_queries(1):
        assert escalation_acknowledge(conversation=conversation, user=team.operator, via="conversation.reply") is False


# --- the owner's test -----------------------------------------------------------------------------------------------


def test_the_test_runs_the_real_chain_on_a_marked_conversation(team, at_t0):
    escalation = escalation_test(business=team.business, user=team.owner)
    assert escalation.is_test and escalation.outcome == "running"
    conversation = escalation.conversation
    assert conversation.contact.name == "Test caller" and conversation.priority == "urgent"
    assert list(conversation.tags.values_list("name", flat=True)) == ["Test"]
    [page] = pages_to(ON_CALL)
    assert page.body.startswith("TEST URGENT Acme Plumbing: Test caller 'Test of the escalation chain")
    at(at_t0, T0 + STEP + SECOND)
    sweep_timers()
    assert len(pages_to(BACKUP)) == 1
    text_in("1", caller=BACKUP)
    escalation.refresh_from_db()
    conversation.refresh_from_db()
    assert escalation.outcome == "acknowledged" and conversation.status == "closed"  # the test is over


# --- timers are rows ------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_sweepers_racing_page_the_backup_once(team):
    with mock.patch("messaging.services.enqueue_send"):
        text_in("burst pipe in basement")
        Timer.objects.filter(kind="escalate").update(due_at=timezone.now() - SECOND)
        barrier = threading.Barrier(4)
        outcomes = []

        def sweeper():
            barrier.wait()
            try:
                outcomes.append(sweep_timers())
            finally:
                connection.close()

        threads = [threading.Thread(target=sweeper) for _ in range(4)]
        [thread.start() for thread in threads]
        [thread.join() for thread in threads]
    assert sum(outcome.get("fired", 0) for outcome in outcomes) == 1
    assert len(pages_to(BACKUP)) == 1 and Page.objects.count() == 2
    assert ConversationEvent.objects.filter(kind="escalated", data__to=team.admin.pk).count() == 1


def _flush_test_keyspace() -> int:
    """Delete every Redis key of this test process: its cache and its Celery broker queue (FLUSHDB of our part)."""
    client = cache._cache.get_client(write=True)
    prefix = settings.CACHES["default"]["KEY_PREFIX"]  # "secdesk-test-<pid>", the broker's prefix too
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.delete(*keys)
    return len(keys)


@pytest.mark.django_db(transaction=True)
def test_a_timer_survives_a_redis_flush_and_fires_from_a_fresh_worker_process(team):
    text_in("burst pipe in basement")  # the page's send task went to Redis on commit
    assert len(pages_to(ON_CALL)) == 1
    _flush_test_keyspace()  # Redis loses everything: queued tasks, cache, live versions
    Timer.objects.filter(kind="escalate").update(due_at=timezone.now() - SECOND)
    # A worker that starts now knows nothing but the database: sweep from a new process.
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "secdesk.test_settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "CELERY_BROKER_URL": "memory://",
    }
    code = "import django; django.setup(); from inbox.timers import sweep_timers; print(sweep_timers())"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "'fired': 1" in result.stdout
    assert len(pages_to(BACKUP)) == 1 and len(pages_to(ON_CALL)) == 1
    # and once only: this process sweeping again finds nothing due
    assert sweep_timers().get("fired") is None
    assert pages_to(BACKUP)[0].status == "queued"  # the sending sweeper sends it: the row is the work item

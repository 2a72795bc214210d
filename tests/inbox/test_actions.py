"""Operator actions on a conversation: assign, status, snooze, book, lost, priority, tags and notes. Each writes a
timeline event (or note) and an audit entry, refuses bad input with a message and no write, and only ever
touches the member's own business."""

import datetime as dt
import threading
import zoneinfo
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, transaction
from django.urls import reverse

from compliance.models import AuditEvent
from inbox import live
from inbox.actions import wake_snoozed
from inbox.models import Conversation, ConversationEvent, Note, Tag
from inbox.selectors import conversation_timeline
from tests.intake.conftest import open_conversation
from tests.tenancy import assert_guarded

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


@pytest.fixture
def thread(tenant_a) -> Conversation:
    return open_conversation(tenant_a.business)


def act(client, conversation, action: str, data: dict, *, htmx: bool = False):
    url = reverse(f"conversation_{action}", args=[conversation.business.slug, conversation.pk])
    return client.post(url, data, **(HTMX if htmx else {}))


def flash(client, conversation) -> str:
    return client.get(reverse("conversation", args=[conversation.business.slug, conversation.pk])).content.decode()


def events(conversation, kind: str | None = None) -> list[ConversationEvent]:
    rows = ConversationEvent.objects.filter(conversation=conversation).order_by("id")
    return list(rows.filter(kind=kind) if kind else rows)


# --- assign ----------------------------------------------------------------------------------------------------


def test_assign_to_me_then_to_a_teammate_then_to_nobody(
    client_for, tenant_a, thread, django_capture_on_commit_callbacks
):
    operator = tenant_a.operator
    client = client_for(operator)
    version = live.version(business_id=tenant_a.business.pk, conversation_id=thread.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = act(client, thread, "assign", {"assignee": "me"})
    assert response.status_code == 302
    thread.refresh_from_db()
    assert thread.assignee == operator
    assert live.version(business_id=tenant_a.business.pk, conversation_id=thread.pk) != version

    act(client, thread, "assign", {"assignee": str(tenant_a.owner.pk)})
    thread.refresh_from_db()
    assert thread.assignee == tenant_a.owner
    act(client, thread, "assign", {"assignee": ""})
    thread.refresh_from_db()
    assert thread.assignee is None

    first, second, third = events(thread, "assigned")
    assert (first.actor, first.data["to"], first.data["from"]) == (operator, operator.pk, None)
    assert (second.data["from"], second.data["to"]) == (operator.pk, tenant_a.owner.pk)
    assert third.data["to"] is None
    assert (
        AuditEvent.objects.filter(action="conversation.assign", actor=operator, business=tenant_a.business).count() == 3
    )


def test_assigning_the_same_person_again_writes_nothing(client_for, tenant_a, thread):
    client = client_for(tenant_a.operator)
    act(client, thread, "assign", {"assignee": "me"})
    act(client, thread, "assign", {"assignee": "me"})
    assert len(events(thread, "assigned")) == 1


@pytest.mark.parametrize("forged", ["other_business", "junk", "999999"])
def test_assignee_from_another_business_or_junk_is_refused(client_for, tenant_a, tenant_b, thread, forged):
    value = {"other_business": str(tenant_b.operator.pk), "junk": "1; DROP", "999999": "999999"}[forged]
    client = client_for(tenant_a.operator)
    response = act(client, thread, "assign", {"assignee": value})
    assert response.status_code == 302
    thread.refresh_from_db()
    assert thread.assignee is None and events(thread) == []
    assert "Pick someone on this business" in flash(client, thread)


def test_the_assign_choices_are_this_business_members_only(client_for, tenant_a, tenant_b, thread):
    html = flash(client_for(tenant_a.operator), thread)
    for user in (tenant_a.owner, tenant_a.admin, tenant_a.operator):
        assert f'<option value="{user.pk}"' in html
    for user in (tenant_b.owner, tenant_b.admin, tenant_b.operator):
        assert f'<option value="{user.pk}"' not in html


# --- status, snooze, book, lost --------------------------------------------------------------------------------


def test_status_changes_are_events_and_close_sets_closed_at(client_for, tenant_a, thread):
    client = client_for(tenant_a.operator)
    act(client, thread, "status", {"status": "waiting"})
    act(client, thread, "status", {"status": "closed"})
    thread.refresh_from_db()
    assert thread.status == "closed" and thread.closed_at is not None
    act(client, thread, "status", {"status": "open"})
    thread.refresh_from_db()
    assert thread.status == "open" and thread.closed_at is None
    assert [(e.data["from"], e.data["to"]) for e in events(thread, "status")] == [
        ("new", "waiting"),
        ("waiting", "closed"),
        ("closed", "open"),
    ]
    assert AuditEvent.objects.filter(action="conversation.status").count() == 3


@pytest.mark.parametrize("status", ["booked", "snoozed", "new", "bogus", ""])
def test_status_outside_the_settable_ones_is_refused(client_for, tenant_a, thread, status):
    client = client_for(tenant_a.operator)
    act(client, thread, "status", {"status": status})
    thread.refresh_from_db()
    assert thread.status == "new" and events(thread) == []
    assert "Choose open, waiting on caller or closed" in flash(client, thread)


def test_reopening_is_refused_while_the_caller_has_another_open_conversation(client_for, tenant_a, thread):
    client = client_for(tenant_a.operator)
    act(client, thread, "status", {"status": "closed"})
    newer = Conversation.objects.create(
        business=tenant_a.business,
        contact=thread.contact,
        phone_number=thread.phone_number,
        last_activity_at=thread.last_activity_at,
    )
    act(client, thread, "status", {"status": "open"})
    thread.refresh_from_db()
    assert thread.status == "closed"
    assert "already has an open conversation" in flash(client, thread)
    assert newer.pk != thread.pk


def test_snooze_with_a_preset_and_wake_up(client_for, tenant_a, thread):
    client = client_for(tenant_a.operator)
    with time_machine.travel(dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC), tick=False):  # Monday 10 AM in New York
        act(client, thread, "snooze", {"preset": "tomorrow"})
        thread.refresh_from_db()
        assert thread.status == "snoozed"
        assert thread.snoozed_until == dt.datetime(2026, 3, 3, 8, 0, tzinfo=NEW_YORK)  # business's time zone
        assert wake_snoozed() == 0
    with time_machine.travel(dt.datetime(2026, 3, 3, 13, 0, 1, tzinfo=dt.UTC), tick=False):
        assert wake_snoozed() == 1
        assert wake_snoozed() == 0
    thread.refresh_from_db()
    assert thread.status == "open"
    snoozed, woke = events(thread)
    assert snoozed.kind == "snoozed" and snoozed.actor == tenant_a.operator
    assert (woke.kind, woke.actor, woke.data["rule"]) == ("status", None, "snooze_ended")


def test_snooze_until_a_typed_local_time(client_for, tenant_a, thread):
    client = client_for(tenant_a.operator)
    with time_machine.travel(dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC), tick=False):
        act(client, thread, "snooze", {"until": "2026-07-04T09:30"})
    thread.refresh_from_db()
    assert thread.snoozed_until == dt.datetime(2026, 7, 4, 9, 30, tzinfo=NEW_YORK)


@pytest.mark.parametrize("until", ["2020-01-01T09:00", "2099-01-01T09:00", "tomorrow", "", "2026-07-04T09:30+02:00"])
def test_snooze_to_the_past_far_future_or_junk_is_refused(client_for, tenant_a, thread, until):
    client = client_for(tenant_a.operator)
    with time_machine.travel(dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC), tick=False):
        response = act(client, thread, "snooze", {"until": until})
    assert response.status_code == 302
    thread.refresh_from_db()
    assert thread.status == "new" and thread.snoozed_until is None and events(thread) == []


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("$1,250.50", Decimal("1250.50")), ("980", Decimal("980.00")), ("", None), (" 0 ", Decimal("0.00"))],
)
def test_mark_booked_with_a_job_value(client_for, tenant_a, thread, typed, stored):
    client = client_for(tenant_a.operator)
    act(client, thread, "book", {"value": typed})
    thread.refresh_from_db()
    assert (thread.status, thread.booked_value) == ("booked", stored)
    assert thread.closed_at is not None
    [event] = events(thread, "booked")
    assert event.data["value"] == (str(stored) if stored is not None else None)


@pytest.mark.parametrize("typed", ["-5", "abc", "1e400", "NaN", "١٢٣", "123456789012"])
def test_a_bad_job_value_is_refused_and_nothing_changes(client_for, tenant_a, thread, typed):
    client = client_for(tenant_a.operator)
    response = act(client, thread, "book", {"value": typed}, htmx=True)
    assert response.status_code == 200
    assert "Enter" in response.content.decode() and "job value" in response.content.decode()
    assert "actionDone" not in response.get("HX-Trigger", "")  # the form keeps what was typed
    thread.refresh_from_db()
    assert thread.status == "new" and events(thread) == []


def test_mark_lost_with_a_reason_and_note(client_for, tenant_a, thread):
    client = client_for(tenant_a.operator)
    act(client, thread, "lost", {"reason": "price", "note": "Went with a cheaper quote"})
    thread.refresh_from_db()
    assert (thread.status, thread.lost_reason, thread.lost_note) == ("lost", "price", "Went with a cheaper quote")
    assert events(thread, "lost")[0].data["reason"] == "price"
    assert "Went with a cheaper quote" in flash(client, thread)


def test_lost_needs_a_known_reason(client_for, tenant_a, thread):
    client = client_for(tenant_a.operator)
    act(client, thread, "lost", {"reason": "because", "note": ""})
    act(client, thread, "lost", {"reason": "price", "note": "x" * 201})
    thread.refresh_from_db()
    assert thread.status == "new" and events(thread) == []


def test_a_finished_conversation_cannot_be_booked_or_snoozed_until_reopened(client_for, tenant_a, thread):
    client = client_for(tenant_a.operator)
    act(client, thread, "lost", {"reason": "spam"})
    act(client, thread, "book", {"value": "100"})
    act(client, thread, "snooze", {"preset": "1h"})
    thread.refresh_from_db()
    assert thread.status == "lost" and thread.booked_value is None
    assert "reopen it before" in flash(client, thread)


# --- priority, tags ----------------------------------------------------------------------------------------------


def test_priority_change_is_recorded(client_for, tenant_a, thread):
    client = client_for(tenant_a.operator)
    act(client, thread, "priority", {"priority": "high"})
    act(client, thread, "priority", {"priority": "extreme"})
    thread.refresh_from_db()
    assert thread.priority == "high"
    [event] = events(thread, "priority")
    assert (event.data["from"], event.data["to"]) == ("normal", "high")


def test_tags_are_created_once_per_business_and_reused_in_any_case(client_for, tenant_a, tenant_b, thread):
    Tag.objects.create(business=tenant_b.business, name="Warranty")  # another business's tag: never reused
    client = client_for(tenant_a.operator)
    act(client, thread, "tags", {"tags": "Warranty, commercial ,  warranty,, Big   job"})
    assert sorted(thread.tags.values_list("name", flat=True)) == ["Big job", "Warranty", "commercial"]
    assert set(Tag.objects.filter(business=tenant_a.business).values_list("name", flat=True)) == {
        "Warranty",
        "commercial",
        "Big job",
    }
    other = open_conversation(tenant_a.business, phone="+14155550123")
    act(client, other, "tags", {"tags": "WARRANTY"})
    assert list(other.tags.values_list("name", flat=True)) == ["Warranty"]  # the business's existing tag
    assert Tag.objects.filter(business=tenant_a.business).count() == 3

    act(client, thread, "tags", {"tags": "commercial"})
    assert list(thread.tags.values_list("name", flat=True)) == ["commercial"]
    added, removed = events(thread, "tags")
    assert sorted(added.data["added"]) == ["Big job", "Warranty", "commercial"]
    assert sorted(removed.data["removed"]) == ["Big job", "Warranty"] and removed.data["added"] == []


def test_the_tag_choices_are_this_business_only(client_for, tenant_a, tenant_b, thread):
    Tag.objects.create(business=tenant_b.business, name="Bolt secret tag")
    Tag.objects.create(business=tenant_a.business, name="Acme tag")
    html = flash(client_for(tenant_a.operator), thread)
    assert '<option value="Acme tag">' in html and "Bolt secret tag" not in html


def test_overlong_tag_is_refused(client_for, tenant_a, thread):
    act(client_for(tenant_a.operator), thread, "tags", {"tags": "x" * 41})
    assert not Tag.objects.exists() and events(thread) == []


# --- notes -------------------------------------------------------------------------------------------------------


def test_note_with_mentions_of_this_business_only(client_for, tenant_a, tenant_b, thread):
    client = client_for(tenant_a.operator)
    # "@owner" is also the handle of the other business's owner (owner@bolt.test): only Acme's is mentioned
    response = act(client, thread, "note", {"body": "Gate code 4411. @owner can you quote? cc @nobody"}, htmx=True)
    assert response.status_code == 200 and "actionDone" in response["HX-Trigger"]
    [note] = Note.objects.filter(conversation=thread)
    assert note.author == tenant_a.operator and note.body.startswith("Gate code 4411")
    assert list(note.mentions.all()) == [tenant_a.owner]
    [entry] = AuditEvent.objects.filter(action="conversation.note")
    assert entry.detail["mentions"] == [tenant_a.owner.pk] and "Gate code" not in str(entry.detail)
    assert "Gate code 4411" in response.content.decode()  # the timeline came back with the note


@pytest.mark.parametrize("body", ["", "   ", "x" * 4001])
def test_empty_or_overlong_note_is_refused(client_for, tenant_a, thread, body):
    client = client_for(tenant_a.operator)
    act(client, thread, "note", {"body": body})
    assert not Note.objects.exists()


def test_note_keeps_odd_unicode_intact(client_for, tenant_a, thread):
    body = "🔥 burst pipe\u200d — नमस्ते <script>alert(1)</script>"
    client = client_for(tenant_a.operator)
    act(client, thread, "note", {"body": body})
    assert Note.objects.get().body == body
    html = flash(client, thread)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


# --- the page, the timeline and tenancy --------------------------------------------------------------------------


def test_timeline_interleaves_events_and_notes_in_order(client_for, tenant_a, thread):
    client = client_for(tenant_a.operator)
    act(client, thread, "assign", {"assignee": "me"})
    act(client, thread, "note", {"body": "Called twice, no answer"})
    act(client, thread, "book", {"value": "450"})
    thread.refresh_from_db()
    kinds = [(item.kind, getattr(item.obj, "kind", "")) for item in conversation_timeline(conversation=thread)]
    assert kinds == [("event", "assigned"), ("note", ""), ("event", "booked")]
    html = flash(client, thread)
    assert (
        "took this conversation" in html
        and "Called twice, no answer" in html
        and "marked this booked ($450.00)" in html
    )


def test_htmx_action_returns_the_changed_parts_out_of_band(client_for, tenant_a, thread):
    response = act(client_for(tenant_a.operator), thread, "priority", {"priority": "high"}, htmx=True)
    html = response.content.decode()
    for part in ("thread-head", "timeline", "presence", "thread-side", "thread-flash"):
        assert f'id="{part}"' in html
    assert html.count('hx-swap-oob="true"') == 5
    assert response["X-Live-Version"] == live.version(business_id=tenant_a.business.pk, conversation_id=thread.pk)
    assert "High priority" in html and "Priority updated." in html


ACTIONS = ["assign", "status", "snooze", "book", "lost", "priority", "tags", "note"]


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_is_members_only_and_post_only(client_for, tenant_a, tenant_b, thread, action):
    url = reverse(f"conversation_{action}", args=[tenant_a.business.slug, thread.pk])
    assert_guarded(
        client_for, url, own=tenant_a, other=tenant_b, allowed_roles=("owner", "admin", "operator"), method="post"
    )
    assert client_for(tenant_a.operator).get(url).status_code == 405


@pytest.mark.parametrize("action", ACTIONS)
def test_another_business_conversation_is_404_and_untouched(client_for, tenant_a, tenant_b, action):
    theirs = open_conversation(tenant_b.business)
    url = reverse(f"conversation_{action}", args=[tenant_a.business.slug, theirs.pk])  # our slug, their id
    response = client_for(tenant_a.owner).post(url, {"assignee": "me", "status": "closed", "body": "x", "tags": "a"})
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.assignee is None and theirs.status == "new"
    assert not ConversationEvent.objects.exists() and not Note.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_wake_leaves_a_conversation_an_operator_is_changing_for_the_next_sweep(tenant_a):
    from inbox.models import Contact

    thread = open_conversation(tenant_a.business)
    Conversation.objects.filter(pk=thread.pk).update(
        status="snoozed", snoozed_until=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    )
    locked, release = threading.Event(), threading.Event()

    def operator_holds_the_row():
        try:
            with transaction.atomic():  # an operator's action: contact, then conversation
                Contact.objects.select_for_update().get(pk=thread.contact_id)
                Conversation.objects.select_for_update().get(pk=thread.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    worker = threading.Thread(target=operator_holds_the_row)
    worker.start()
    assert locked.wait(10)
    try:
        assert wake_snoozed() == 0  # SKIP LOCKED: no waiting on the operator, no double wake
    finally:
        release.set()
        worker.join()
    assert wake_snoozed() == 1
    assert Conversation.objects.get(pk=thread.pk).status == "open"
    assert ConversationEvent.objects.filter(conversation=thread, kind="status").count() == 1


def test_a_call_back_shows_in_the_timeline_with_who_placed_it(client_for, tenant_a, thread):
    from telephony.models import PhoneNumber
    from telephony.services_call_back import call_back

    PhoneNumber.objects.filter(pk=thread.phone_number_id).update(provider="simulator")
    thread.refresh_from_db()
    operator = tenant_a.operator
    operator.phone = "+14155550111"
    operator.save(update_fields=["phone"])
    call_back(conversation=thread, user=operator)
    html = flash(client_for(tenant_a.owner), thread)
    assert f"<strong>Call back</strong> by {operator}" in html
    assert "Completed" in html and "called the caller back" in html
    thread.refresh_from_db()
    assert thread.first_response_at is not None


@pytest.mark.parametrize(
    ("action", "data"),
    [("note", {"body": "a\x00b"}), ("lost", {"reason": "price", "note": "x\x00"}), ("tags", {"tags": "a\x00"})],
)
def test_nul_bytes_are_refused_with_a_message(client_for, tenant_a, thread, action, data):
    client = client_for(tenant_a.operator)
    response = act(client, thread, action, data, htmx=True)
    assert response.status_code == 200 and "cannot be stored" in response.content.decode()
    thread.refresh_from_db()
    assert thread.status == "new" and not Note.objects.exists() and not Tag.objects.exists()

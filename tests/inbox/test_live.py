"""Live inbox pages: the cheap "anything changed since?" poll of the list and of a conversation, the alerts it
carries for browser notifications, and "Sam replied 10 s ago"."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inbox import live
from inbox.actions import conversation_assign, note_add
from inbox.models import Notification
from inbox.services import message_reply
from messaging.services import message_apply_status
from tests.factories import OutboundMessageFactory
from tests.intake.conftest import open_conversation
from tests.tenancy import assert_guarded

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def thread(tenant_a):
    return open_conversation(tenant_a.business)


def live_url(conversation) -> str:
    return reverse("conversation_live", args=[conversation.business.slug, conversation.pk])


def versions(conversation) -> dict:
    business_id = conversation.business_id
    return {
        "v": live.version(business_id=business_id, conversation_id=conversation.pk),
        "b": live.version(business_id=business_id),
    }


def test_unchanged_conversation_answers_204_without_touching_the_database_beyond_the_session(
    client_for, tenant_a, thread
):
    client = client_for(tenant_a.operator)
    params = versions(thread)
    client.get(live_url(thread), params)  # warm the session and membership caches of this client
    with CaptureQueriesContext(connection) as queries:
        response = client.get(live_url(thread), params)
    assert response.status_code == 204
    # session, user, membership (tenant middleware) and the conversation's tenancy check: nothing that grows
    assert len(queries) <= 4, [q["sql"] for q in queries]


def test_a_change_in_the_conversation_returns_its_parts_and_the_new_version(
    client_for, tenant_a, thread, django_capture_on_commit_callbacks
):
    client = client_for(tenant_a.operator)
    params = versions(thread)
    with django_capture_on_commit_callbacks(execute=True):
        note_add(conversation=thread, body="Customer prefers mornings", author=tenant_a.owner)
    response = client.get(live_url(thread), params)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Customer prefers mornings" in html
    assert 'id="timeline"' in html and 'id="thread-head"' in html and 'id="thread-side"' in html
    assert 'hx-swap-oob="true"' not in html  # the poller swaps by id itself
    assert response["X-Live-Version"] == versions(thread)["v"] != params["v"]
    # the same version again: nothing to do
    assert client.get(live_url(thread), versions(thread)).status_code == 204


def test_a_delivery_status_moves_the_version(client_for, tenant_a, thread, django_capture_on_commit_callbacks):
    message = OutboundMessageFactory(
        conversation=thread, phone_number=thread.phone_number, status="sent", provider_message_id="SM" + "a" * 32
    )
    before = versions(thread)
    with django_capture_on_commit_callbacks(execute=True):
        message_apply_status(provider_message_id=message.provider_message_id, status="delivered", error_code="")
    assert versions(thread)["v"] != before["v"]
    response = client_for(tenant_a.operator).get(live_url(thread), before)
    assert response.status_code == 200 and "Delivered" in response.content.decode()


def test_another_conversation_changing_brings_alerts_but_no_parts(
    client_for, tenant_a, thread, django_capture_on_commit_callbacks
):
    operator = tenant_a.operator
    params = versions(thread)
    other = open_conversation(tenant_a.business, phone="+14155550188")
    with django_capture_on_commit_callbacks(execute=True):
        live.touch(tenant_a.business.pk, other.pk)
    Notification.objects.create(
        business=tenant_a.business,
        user=operator,
        conversation=other,
        kind="urgent",
        text="Urgent: burst pipe — (415) 555-0188",
        due_at=timezone.now(),
    )
    Notification.objects.create(  # someone else's alert: never shown to the operator
        business=tenant_a.business, user=tenant_a.owner, kind="urgent", text="for the owner", due_at=timezone.now()
    )
    response = client_for(operator).get(live_url(thread), params)
    assert response.status_code == 200 and response.content == b""
    assert response["X-Live-Business"] == live.version(business_id=tenant_a.business.pk)
    alerts = json.loads(response["X-Live-Alerts"])
    assert [a["text"] for a in alerts] == ["Urgent: burst pipe — (415) 555-0188"]
    assert alerts[0]["url"] == reverse("conversation", args=[tenant_a.business.slug, other.pk])
    assert response["X-Live-Alerts"].isascii()


def test_the_inbox_list_poll(client_for, tenant_a, thread, django_capture_on_commit_callbacks):
    client = client_for(tenant_a.operator)
    url = reverse("inbox", args=[tenant_a.business.slug])
    version = live.version(business_id=tenant_a.business.pk)
    assert client.get(url, {"view": "all", "live": version}, **HTMX).status_code == 204
    with django_capture_on_commit_callbacks(execute=True):
        newcomer = open_conversation(tenant_a.business, phone="+14155550177")
        live.touch(tenant_a.business.pk, newcomer.pk)
    response = client.get(url, {"view": "all", "live": version}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="inbox-tabs"' in html and 'id="inbox-rows"' in html and "(415) 555-0177" in html
    assert "<html" not in html  # only the parts
    assert response["X-Live-Business"] == live.version(business_id=tenant_a.business.pk) != version


def test_a_flushed_redis_reads_as_changed_once(client_for, tenant_a, thread):
    from django.core.cache import cache

    client = client_for(tenant_a.operator)
    params = versions(thread)
    cache.delete_many([f"inbox:v:c:{thread.pk}", f"inbox:v:b:{tenant_a.business.pk}"])
    assert client.get(live_url(thread), params).status_code == 200
    assert client.get(live_url(thread), versions(thread)).status_code == 204


def test_live_urls_are_members_only(client_for, tenant_a, tenant_b, thread):
    everyone = ("owner", "admin", "operator")
    assert_guarded(client_for, live_url(thread), own=tenant_a, other=tenant_b, allowed_roles=everyone)
    theirs = open_conversation(tenant_b.business)
    url = reverse("conversation_live", args=[tenant_a.business.slug, theirs.pk])
    assert client_for(tenant_a.owner).get(url).status_code == 404


def test_teammate_reply_shows_who_answered_and_when(client_for, tenant_a, thread):
    message_reply(conversation=thread, body="On our way at 3", user=tenant_a.owner)
    owner_name = tenant_a.owner.full_name
    html = client_for(tenant_a.operator).get(reverse("conversation", args=[tenant_a.business.slug, thread.pk]))
    text = html.content.decode()
    assert f"<strong>{owner_name}</strong> replied" in text and "data-ago" in text
    # your own reply is not news to you
    mine = client_for(tenant_a.owner).get(reverse("conversation", args=[tenant_a.business.slug, thread.pk]))
    assert f"<strong>{owner_name}</strong> replied" not in mine.content.decode()


def test_reply_counts_as_the_first_response_once(tenant_a, thread):
    message_reply(conversation=thread, body="Hi, what's going on?", user=tenant_a.operator)
    thread.refresh_from_db()
    first = thread.first_response_at
    assert first is not None
    conversation_assign(conversation=thread, assignee=tenant_a.owner, actor=tenant_a.operator)
    message_reply(conversation=thread, body="Second", user=tenant_a.owner)
    thread.refresh_from_db()
    assert thread.first_response_at == first


def test_redis_down_never_fails_a_committed_write_or_a_page(
    client_for, tenant_a, thread, monkeypatch, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    def down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(cache, "set_many", down)
    monkeypatch.setattr(cache, "get", down)
    rung = []
    monkeypatch.setattr("messaging.tasks.send_message_task.delay", rung.append)
    client = client_for(tenant_a.operator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("conversation_reply", args=[tenant_a.business.slug, thread.pk]), {"body": "On our way"}
        )
    assert response.status_code == 302
    assert len(rung) == 1  # the send was still rung after the failed doorbell
    assert client.get(reverse("conversation", args=[tenant_a.business.slug, thread.pk])).status_code == 200
    assert client.get(live_url(thread), {"v": "1", "b": "1"}).status_code == 200  # refreshes rather than fails

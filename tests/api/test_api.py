"""The REST API: the key decides the business, every endpoint refuses the other business and anonymous calls,
updates go through the inbox actions, replies through the opt-out check, and every error has one shape."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance.models import AuditEvent, ConsentEvent
from compliance.services import consent_record
from inbox.models import ConversationEvent
from messaging.models import Message
from tenants.models import ApiKey
from tenants.services_api_keys import api_key_revoke
from tests.api.conftest import ApiClient
from tests.factories import ConversationFactory

RESOURCES = ["calls", "conversations", "messages", "contacts", "intake-submissions", "consent-events"]


def _assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:300])
    error = response.json()["error"]
    assert set(error) == {"code", "message", "fields"} and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


@pytest.mark.parametrize("resource", RESOURCES)
def test_unauthenticated_calls_get_401(world_a, resource):
    pk = world_a.ids()[resource]
    for client in (ApiClient(None), ApiClient("sd_not-a-real-key")):
        _assert_error(client.get(f"/api/v1/{resource}/"), 401)
        _assert_error(client.get(f"/api/v1/{resource}/{pk}/"), 401)
    # a logged-in session is not an API credential
    from django.test import Client

    session = Client()
    session.force_login(world_a.tenant.owner)
    _assert_error(session.get(f"/api/v1/{resource}/"), 401, "not_authenticated")


def test_unauthenticated_writes_get_401(world_a):
    anon = ApiClient(None)
    _assert_error(anon.patch_json(f"/api/v1/conversations/{world_a.conversation.pk}/", {"status": "closed"}), 401)
    _assert_error(anon.post_json("/api/v1/messages/", {"conversation": world_a.conversation.pk, "body": "hi"}), 401)
    assert not Message.objects.filter(kind="reply").exists()


@pytest.mark.parametrize("resource", RESOURCES)
def test_each_key_sees_only_its_own_business(world_a, world_b, resource):
    ours, theirs = world_a.ids()[resource], world_b.ids()[resource]
    client = world_a.client()
    listed = [row["id"] for row in client.get(f"/api/v1/{resource}/").json()["results"]]
    assert listed == [ours]
    assert client.get(f"/api/v1/{resource}/{ours}/").status_code == 200
    _assert_error(client.get(f"/api/v1/{resource}/{theirs}/"), 404, "not_found")
    other = world_b.client()
    assert [row["id"] for row in other.get(f"/api/v1/{resource}/").json()["results"]] == [theirs]
    _assert_error(other.get(f"/api/v1/{resource}/{ours}/"), 404, "not_found")


def test_other_business_cannot_update_or_reply(world_a, world_b):
    other = world_b.client()
    url = f"/api/v1/conversations/{world_a.conversation.pk}/"
    _assert_error(other.patch_json(url, {"status": "closed"}), 404)
    error = _assert_error(
        other.post_json("/api/v1/messages/", {"conversation": world_a.conversation.pk, "body": "hi"}), 400
    )
    assert "conversation" in error["fields"]
    world_a.conversation.refresh_from_db()
    assert world_a.conversation.status == "new"
    assert not Message.objects.filter(kind="reply").exists()


def test_revoked_key_gets_401(world_a):
    key = ApiKey.objects.get(business=world_a.tenant.business)
    client = world_a.client()
    assert client.get("/api/v1/calls/").status_code == 200
    api_key_revoke(key=key, actor=world_a.tenant.owner)
    _assert_error(client.get("/api/v1/calls/"), 401, "authentication_failed")
    _assert_error(client.get(f"/api/v1/calls/{world_a.call.pk}/"), 401)


def test_key_use_is_recorded(world_a):
    world_a.client().get("/api/v1/contacts/")
    assert ApiKey.objects.get(business=world_a.tenant.business).last_used_at is not None


def test_reply_goes_through_the_inbox_service(world_a):
    response = world_a.client().post_json(
        "/api/v1/messages/", {"conversation": world_a.conversation.pk, "body": " On our way \r\n"}
    )
    assert response.status_code == 201, response.content
    message = Message.objects.get(pk=response.json()["id"])
    assert (message.kind, message.status, message.body, message.sent_by) == (
        "reply",
        "queued",
        "On our way",
        world_a.tenant.owner,
    )
    assert message.to_number == world_a.contact.phone and message.from_number == world_a.number.e164
    assert AuditEvent.objects.filter(action="conversation.reply", actor=world_a.tenant.owner).exists()
    world_a.conversation.refresh_from_db()
    assert world_a.conversation.status == "waiting" and world_a.conversation.first_response_at is not None


def test_reply_to_an_opted_out_number_is_refused(world_a):
    consent_record(
        business=world_a.tenant.business, phone=world_a.contact.phone, kind=ConsentEvent.Kind.OPT_OUT, raw_text="STOP"
    )
    response = world_a.client().post_json("/api/v1/messages/", {"conversation": world_a.conversation.pk, "body": "Hi"})
    error = _assert_error(response, 400, "opted_out")
    assert "opted out" in error["message"]
    assert not Message.objects.filter(kind="reply").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"conversation": None, "body": "x"}, "conversation"),
        ({"body": "x"}, "conversation"),
        ({"conversation": 1}, "body"),
    ],
)
def test_reply_validation_errors_name_the_field(world_a, body, field):
    error = _assert_error(world_a.client().post_json("/api/v1/messages/", body), 400, "invalid")
    assert field in error["fields"]


def test_empty_reply_is_refused_with_the_service_message(world_a):
    response = world_a.client().post_json("/api/v1/messages/", {"conversation": world_a.conversation.pk, "body": " "})
    _assert_error(response, 400, "empty")


def test_patch_assignee_accepts_only_this_business_members(world_a, world_b):
    client, url = world_a.client(), f"/api/v1/conversations/{world_a.conversation.pk}/"
    error = _assert_error(client.patch_json(url, {"assignee": world_b.tenant.operator.pk}), 400, "invalid")
    assert "assignee" in error["fields"]
    world_a.conversation.refresh_from_db()
    assert world_a.conversation.assignee_id is None

    response = client.patch_json(url, {"assignee": world_a.tenant.operator.pk})
    assert response.status_code == 200 and response.json()["assignee"] == world_a.tenant.operator.pk
    event = ConversationEvent.objects.get(conversation=world_a.conversation, kind="assigned")
    assert event.actor == world_a.tenant.owner  # the key's creator answers for the integration
    assert AuditEvent.objects.filter(action="conversation.assign", actor=world_a.tenant.owner).exists()


def test_patch_books_with_value_and_is_all_or_nothing(world_a):
    client, url = world_a.client(), f"/api/v1/conversations/{world_a.conversation.pk}/"
    response = client.patch_json(url, {"status": "booked", "booked_value": "1250.50"})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "booked" and response.json()["booked_value"] == "1250.50"
    assert ConversationEvent.objects.filter(conversation=world_a.conversation, kind="booked").exists()
    # a second outcome on a finished conversation: refused by the action, and the assignment in the same request
    # is rolled back with it
    response = client.patch_json(url, {"assignee": world_a.tenant.operator.pk, "lost_reason": "price"})
    _assert_error(response, 400, "finished")
    world_a.conversation.refresh_from_db()
    assert world_a.conversation.status == "booked" and world_a.conversation.assignee_id is None


@pytest.mark.parametrize(
    "body",
    [{}, {"status": "snoozed"}, {"status": "open", "booked_value": "5"}, {"status": "lost"}, {"booked_value": "-1"}],
)
def test_patch_bad_input_is_a_400(world_a, body):
    url = f"/api/v1/conversations/{world_a.conversation.pk}/"
    _assert_error(world_a.client().patch_json(url, body), 400)


def test_patch_lost_and_status(world_a):
    client, url = world_a.client(), f"/api/v1/conversations/{world_a.conversation.pk}/"
    assert client.patch_json(url, {"status": "closed"}).json()["status"] == "closed"
    body = client.patch_json(url, {"status": "open"}).json()
    assert body["status"] == "open"
    body = client.patch_json(url, {"lost_reason": "price", "lost_note": "too dear"}).json()
    assert (body["status"], body["lost_reason"], body["lost_note"]) == ("lost", "price", "too dear")


def test_conversation_filters(world_a):
    business = world_a.tenant.business
    urgent = ConversationFactory(contact__business=business, priority="urgent", assignee=world_a.tenant.operator)
    client = world_a.client()

    def ids(query: str) -> list[int]:
        response = client.get(f"/api/v1/conversations/?{query}")
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids("priority=urgent") == [urgent.pk]
    assert ids(f"assignee={world_a.tenant.operator.pk}") == [urgent.pk]
    assert ids("assignee=none") == [world_a.conversation.pk]
    assert ids("status=new") == [urgent.pk, world_a.conversation.pk]
    assert ids("status=closed") == []
    later = (timezone.now() + timezone.timedelta(minutes=1)).isoformat()
    assert ids("created_after=" + later.replace("+", "%2B")) == []
    assert ids("updated_before=" + later.replace("+", "%2B")) == [urgent.pk, world_a.conversation.pk]
    error = _assert_error(client.get("/api/v1/conversations/?status=sideways&created_after=yesterday"), 400)
    assert set(error["fields"]) == {"status", "created_after"}


def test_messages_filter_by_conversation(world_a):
    other = ConversationFactory(contact__business=world_a.tenant.business, phone_number=world_a.number)
    response = world_a.client().get(f"/api/v1/messages/?conversation={other.pk}")
    assert response.json()["results"] == []
    response = world_a.client().get(f"/api/v1/messages/?conversation={world_a.conversation.pk}&direction=out")
    assert [row["id"] for row in response.json()["results"]] == [world_a.message.pk]


def test_cursor_pagination(world_a):
    extra = [ConversationFactory(contact__business=world_a.tenant.business) for _ in range(2)]
    client = world_a.client()
    page = client.get("/api/v1/conversations/?page_size=2").json()
    assert [row["id"] for row in page["results"]] == [extra[1].pk, extra[0].pk]
    assert page["next"] and page["previous"] is None
    page = client.get(page["next"]).json()
    assert [row["id"] for row in page["results"]] == [world_a.conversation.pk] and page["next"] is None
    _assert_error(client.get("/api/v1/conversations/?cursor=garbage"), 404)


def test_conversation_list_query_count_is_constant(world_a):
    client = world_a.client()
    client.get("/api/v1/conversations/")  # warm up: last_used_at is written at most once a minute

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/v1/conversations/").status_code == 200
        return len(queries)

    before = count()
    for _ in range(5):
        ConversationFactory(contact__business=world_a.tenant.business, phone_number=world_a.number)
    assert count() == before


def test_throttled_per_key(world_a, world_b, settings):
    settings.API_THROTTLE_RATE = "3/min"
    client = world_a.client()
    for _ in range(3):
        assert client.get("/api/v1/contacts/").status_code == 200
    response = client.get("/api/v1/contacts/")
    _assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    assert world_b.client().get("/api/v1/contacts/").status_code == 200  # another key has its own budget


def test_schema_and_docs_are_served(client):
    schema = client.get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/conversations/{id}/" in paths and "patch" in paths["/api/v1/conversations/{id}/"]
    assert schema.json()["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "PATCH /api/v1/conversations/{id}/" in html
    assert "<script" not in html and "cdn" not in html.lower()


def test_out_of_range_ids_are_client_errors(world_a):
    client, huge = world_a.client(), 2**70
    _assert_error(client.get(f"/api/v1/messages/?conversation={huge}"), 400)
    _assert_error(client.get(f"/api/v1/conversations/{huge}/"), 404)
    _assert_error(client.patch_json(f"/api/v1/conversations/{world_a.conversation.pk}/", {"assignee": huge}), 400)
    _assert_error(client.post_json("/api/v1/messages/", {"conversation": huge, "body": "hi"}), 400)

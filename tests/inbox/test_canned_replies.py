"""Canned replies: the owner's page (add, edit, delete, one title per business, the text rules, segment counts),
filling them in for a caller, and the composer offering this business's replies to every member."""

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from compliance.models import AuditEvent
from inbox.canned import MAX_CANNED_REPLIES, composer_context, render
from inbox.models import CannedReply
from tenants.models import Membership
from tests.intake.conftest import open_conversation
from tests.tenancy import assert_guarded

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
MANAGERS = (Membership.Role.OWNER, Membership.Role.ADMIN)


def list_url(tenant) -> str:
    return reverse("settings_canned_replies", args=[tenant.business.slug])


def edit_url(reply) -> str:
    return reverse("settings_canned_reply_edit", args=[reply.business.slug, reply.pk])


def delete_url(reply) -> str:
    return reverse("settings_canned_reply_delete", args=[reply.business.slug, reply.pk])


def canned(business, title: str, body: str) -> CannedReply:
    return CannedReply.objects.create(business=business, title=title, body=body)


# --- the owner's page --------------------------------------------------------------------------------------------


def test_pages_are_for_owners_and_admins(client_for, tenant_a, tenant_b):
    reply = canned(tenant_a.business, "On our way", "On our way!")
    for url, method, data in [
        (list_url(tenant_a), "get", None),
        (list_url(tenant_a), "post", {"title": "X", "body": "Y"}),
        (edit_url(reply), "get", None),
        (edit_url(reply), "post", {"title": "X", "body": "Y"}),
    ]:
        assert_guarded(client_for, url, own=tenant_a, other=tenant_b, allowed_roles=MANAGERS, method=method, data=data)
    assert client_for(tenant_a.operator).post(delete_url(reply)).status_code == 403
    reply.refresh_from_db()
    assert (reply.title, reply.body) == ("On our way", "On our way!")


def test_another_business_reply_is_not_found(client_for, tenant_a, tenant_b):
    theirs = canned(tenant_b.business, "Theirs", "Hello")
    client = client_for(tenant_a.owner)
    slug = tenant_a.business.slug
    assert client.get(reverse("settings_canned_reply_edit", args=[slug, theirs.pk])).status_code == 404
    response = client.post(reverse("settings_canned_reply_edit", args=[slug, theirs.pk]), {"title": "A", "body": "B"})
    assert response.status_code == 404
    assert client.post(reverse("settings_canned_reply_delete", args=[slug, theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.title == "Theirs"


def test_owner_adds_edits_and_deletes_a_reply(client_for, tenant_a):
    client = client_for(tenant_a.owner)
    response = client.post(
        list_url(tenant_a), {"title": "  On  our way ", "body": " Hi {first_name},\r\nwe're on our way. "}
    )
    assert response.status_code == 302
    reply = CannedReply.objects.get(business=tenant_a.business)
    assert (reply.title, reply.body) == ("On our way", "Hi {first_name},\nwe're on our way.")
    created = AuditEvent.objects.get(action="canned_reply.create")
    assert (created.actor, created.detail) == (tenant_a.owner, {"title": "On our way"})

    page = client.get(list_url(tenant_a)).content.decode()
    assert "Hi Sam,\nwe&#x27;re on our way." in page  # how a caller called Sam reads it
    assert "25 characters · 1 segment · GSM-7" in page

    response = client.post(edit_url(reply), {"title": "On the way", "body": "{business} is on the way."})
    assert response.status_code == 302
    reply.refresh_from_db()
    assert (reply.title, reply.body) == ("On the way", "{business} is on the way.")
    assert AuditEvent.objects.filter(action="canned_reply.update").count() == 1
    assert "Acme Plumbing is on the way." in client.get(edit_url(reply)).content.decode()

    assert client.get(delete_url(reply)).status_code == 405
    assert client.post(delete_url(reply)).status_code == 302
    assert not CannedReply.objects.exists()
    assert AuditEvent.objects.get(action="canned_reply.delete").detail == {"title": "On the way"}


def test_titles_are_unique_per_business_whatever_the_case(client_for, tenant_a, tenant_b):
    canned(tenant_a.business, "On our way", "On our way!")
    other = canned(tenant_a.business, "Photo", "Can you send a photo?")
    canned(tenant_b.business, "Running late", "Sorry, running late.")
    client = client_for(tenant_a.admin)
    response = client.post(list_url(tenant_a), {"title": "ON OUR WAY", "body": "Coming"})
    assert response.status_code == 200
    assert "You already have a canned reply called “ON OUR WAY”." in response.content.decode()
    response = client.post(edit_url(other), {"title": "on our way", "body": "Coming"})
    assert "You already have a canned reply called “on our way”." in response.content.decode()
    # another business's titles do not count
    assert client.post(list_url(tenant_a), {"title": "Running late", "body": "Sorry!"}).status_code == 302
    assert CannedReply.objects.filter(business=tenant_a.business).count() == 3


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("x" * 1601, "A text can be at most 1600 characters; this one has 1601."),
        ("Hi {name}", "Unknown variable {name}. Canned replies can use {first_name} and {business}."),
        ("Your link: {intake_link}", "Unknown variable {intake_link}."),
        ("Hi {first_name", "Unbalanced braces"),
        ("Hi {first_name:>10}", "Variables are plain names like {first_name}"),
        ("   ", "Write the text of the reply."),
    ],
)
def test_bad_bodies_are_form_errors(client_for, tenant_a, body, message):
    response = client_for(tenant_a.owner).post(list_url(tenant_a), {"title": "Greeting", "body": body})
    assert response.status_code == 200
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not CannedReply.objects.exists()


def test_a_full_text_and_literal_braces_are_fine(client_for, tenant_a):
    client = client_for(tenant_a.owner)
    assert client.post(list_url(tenant_a), {"title": "Long", "body": "x" * 1600}).status_code == 302
    assert client.post(list_url(tenant_a), {"title": "Braces", "body": "Code {{A1}}"}).status_code == 302
    page = client.get(list_url(tenant_a)).content.decode()
    assert "11 segments" in page  # 1600 GSM-7 characters, 153 per segment
    assert "Code {A1}" in page


def test_segment_count_warns_about_emoji(client_for, tenant_a):
    canned(tenant_a.business, "Thanks", "Thanks! 👍")
    page = client_for(tenant_a.owner).get(list_url(tenant_a)).content.decode()
    assert "UCS-2" in page and "Not in GSM-7: 👍" in page


def test_the_number_of_replies_is_capped(client_for, tenant_a):
    CannedReply.objects.bulk_create(
        CannedReply(business=tenant_a.business, title=f"Reply {n}", body="Hi") for n in range(MAX_CANNED_REPLIES)
    )
    client = client_for(tenant_a.owner)
    response = client.post(list_url(tenant_a), {"title": "One more", "body": "Hi"})
    assert response.status_code == 200
    assert f"At most {MAX_CANNED_REPLIES} canned replies" in response.content.decode()
    assert CannedReply.objects.count() == MAX_CANNED_REPLIES


# --- filling in --------------------------------------------------------------------------------------------------


def test_variables_are_filled_in_and_an_unknown_name_drops_out():
    body = "Hi {first_name}, this is {business}. {{Ref}}"
    assert render(body, first_name="Maria", business_name="Acme") == "Hi Maria, this is Acme. {Ref}"
    assert render(body, first_name="", business_name="Acme") == "Hi, this is Acme. {Ref}"
    assert render("{first_name} hello", first_name="", business_name="Acme") == "hello"
    assert render("Thanks, {first_name}!", first_name="", business_name="Acme") == "Thanks!"
    assert render("Broken {", first_name="", business_name="Acme") == "Broken {"  # stored before a rule change


# --- the composer ------------------------------------------------------------------------------------------------


def test_composer_offers_this_business_replies_to_operators(client_for, tenant_a, tenant_b):
    conversation = open_conversation(tenant_a.business)
    conversation.contact.name = "Maria Lopez"
    conversation.contact.save()
    canned(tenant_a.business, "On our way", "Hi {first_name}, {business} is on the way.")
    canned(tenant_b.business, "Bolt only", "From Bolt")
    url = reverse("conversation_reply", args=[tenant_a.business.slug, conversation.pk])
    # the reply view's htmx answer (here: an empty body refused) is the composer partial
    response = client_for(tenant_a.operator).post(url, {"body": ""}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "Write a message before sending." in html
    assert 'data-canned-form="reply-body"' in html and ">On our way</option>" in html
    assert 'data-body="Hi Maria, Acme Plumbing is on the way."' in html
    assert "Bolt only" not in html and "From Bolt" not in html
    assert "Add canned replies" not in html  # no managing link for an operator


def test_composer_context_prefills_only_this_business_replies(tenant_a, tenant_b, django_assert_num_queries):
    conversation = open_conversation(tenant_a.business)
    mine = canned(tenant_a.business, "Photo", "Can you send a photo, {first_name}?")
    theirs = canned(tenant_b.business, "Theirs", "From Bolt")
    with django_assert_num_queries(1):
        context = composer_context(conversation=conversation, business=tenant_a.business, canned_id=str(mine.pk))
    assert [r.pk for r in context["canned_replies"]] == [mine.pk]
    assert context["reply_prefill"] == "Can you send a photo?"
    assert context["segment_info"].units == len("Can you send a photo?")
    for forged in (str(theirs.pk), "nonsense", "", None):
        context = composer_context(conversation=conversation, business=tenant_a.business, canned_id=forged)
        assert context["reply_prefill"] == ""


def test_composer_renders_the_prefill_and_without_canned_context(tenant_a):
    conversation = open_conversation(tenant_a.business)
    reply = canned(tenant_a.business, "Photo", "Can you send a photo?")
    request = RequestFactory().get("/")
    request.user = tenant_a.operator
    base = {"business": tenant_a.business, "conversation": conversation, "contact": conversation.contact}
    context = composer_context(conversation=conversation, business=tenant_a.business, canned_id=str(reply.pk))
    html = render_to_string("inbox/_composer.html", {**base, **context}, request=request)
    assert ">Can you send a photo?</textarea>" in html
    assert "21 characters · 1 segment · GSM-7" in html
    # no canned context at all (e.g. a page that does not pass it): the composer still works, without the row
    html = render_to_string("inbox/_composer.html", base, request=request)
    assert "data-canned-form" not in html and "></textarea>" in html and "Send" in html


def test_managers_are_pointed_to_the_settings_when_there_are_none(tenant_a):
    conversation = open_conversation(tenant_a.business)
    request = RequestFactory().get("/")
    request.user = tenant_a.owner
    context = {
        "business": tenant_a.business,
        "conversation": conversation,
        "contact": conversation.contact,
        "is_manager": True,
        **composer_context(conversation=conversation, business=tenant_a.business),
    }
    html = render_to_string("inbox/_composer.html", context, request=request)
    assert "Add canned replies" in html and list_url(tenant_a) in html

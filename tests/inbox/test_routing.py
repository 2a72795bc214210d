"""Assignment rules: manual, round robin among members who are not away, ZIP territories (longest prefix), the
hooks that run them (new conversation, missed call, intake form), concurrency, and the owner's Assignment page."""

import threading
import time

import pytest
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from compliance.models import AuditEvent
from inbox import live
from inbox.models import Conversation, ConversationEvent, MemberSettings, RoutingSettings, Territory
from inbox.routing import normalise_zip, route_new_conversation
from inbox.services import contact_get_locked, conversation_open_for
from intake.services import intake_link_for, intake_submit
from tenants.models import Membership
from tests import twilio
from tests.factories import ContactFactory, ConversationFactory, MembershipFactory, UserFactory
from tests.numbers import CALLER, NUMBER_A
from tests.tenancy import assert_guarded

pytestmark = pytest.mark.django_db

ROUND_ROBIN = RoutingSettings.Mode.ROUND_ROBIN
TERRITORY = RoutingSettings.Mode.TERRITORY


def set_mode(business, mode: str) -> RoutingSettings:
    routing, _ = RoutingSettings.objects.update_or_create(business=business, defaults={"mode": mode})
    return routing


def territory(business, name: str, prefixes: list[str], people) -> Territory:
    row = Territory.objects.create(business=business, name=name, zip_prefixes=prefixes)
    row.assignees.set(people)
    return row


def mark_away(user, business, away: bool = True) -> None:
    membership = Membership.objects.get(user=user, business=business)
    MemberSettings.objects.update_or_create(membership=membership, defaults={"business": business, "away": away})


_phones = iter(range(1000, 9999))


def start_conversation(business, *, zip_code: str = "", contact_zip: str = "") -> Conversation:
    """A new caller's conversation, created the way webhooks do: contact locked, then the conversation."""
    with transaction.atomic():
        contact = contact_get_locked(business=business, phone=f"+1415555{next(_phones):04d}")
        if contact_zip:
            contact.zip_code = contact_zip
            contact.save(update_fields=["zip_code"])
        conversation, created = conversation_open_for(contact=contact, at=timezone.now(), zip_code=zip_code)
    assert created
    conversation.refresh_from_db()
    return conversation


def members_in_turn(tenant) -> list:
    """The tenant's members in round-robin order (user id)."""
    return sorted([tenant.owner, tenant.admin, tenant.operator], key=lambda u: u.pk)


# --- the rules ---------------------------------------------------------------------------------------------------


def test_manual_assigns_nobody_and_costs_one_read(tenant_a, django_assert_num_queries):
    assert start_conversation(tenant_a.business).assignee_id is None  # no settings row at all: manual
    set_mode(tenant_a.business, RoutingSettings.Mode.MANUAL)
    conversation = start_conversation(tenant_a.business)
    assert conversation.assignee_id is None
    assert not ConversationEvent.objects.exists()
    with transaction.atomic(), django_assert_num_queries(1):
        assert route_new_conversation(conversation) is None


def test_round_robin_takes_turns_and_records_the_rule(tenant_a, django_capture_on_commit_callbacks):
    routing = set_mode(tenant_a.business, ROUND_ROBIN)
    order = members_in_turn(tenant_a)
    version = live.version(business_id=tenant_a.business.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assigned = [start_conversation(tenant_a.business).assignee_id for _ in range(4)]
    assert assigned == [order[0].pk, order[1].pk, order[2].pk, order[0].pk]
    routing.refresh_from_db()
    assert routing.last_assigned_id == order[0].pk
    event = ConversationEvent.objects.filter(kind="assigned").order_by("pk").first()
    assert event.actor is None and event.business_id == tenant_a.business.pk
    assert event.data == {"to": order[0].pk, "to_name": order[0].full_name, "rule": "round_robin"}
    assert live.version(business_id=tenant_a.business.pk) != version  # open inbox pages are told


def test_round_robin_skips_away_members_and_resumes_after_the_last_one(tenant_a):
    set_mode(tenant_a.business, ROUND_ROBIN)
    first, second, third = members_in_turn(tenant_a)
    mark_away(second, tenant_a.business)
    mark_away(third, tenant_a.business, away=False)  # a settings row that says "not away" counts as available
    assert [start_conversation(tenant_a.business).assignee_id for _ in range(3)] == [first.pk, third.pk, first.pk]
    mark_away(second, tenant_a.business, away=False)
    # the pointer is at `first`; the turn passes to whoever follows them
    assert start_conversation(tenant_a.business).assignee_id == second.pk


def test_members_who_left_or_are_deactivated_are_never_picked(tenant_a):
    routing = set_mode(tenant_a.business, ROUND_ROBIN)
    first, second, third = members_in_turn(tenant_a)
    routing.last_assigned = second
    routing.save()
    Membership.objects.filter(user=third, business=tenant_a.business).delete()
    first.is_active = False
    first.save()
    # the pointer names `second`; `third` left and `first` is deactivated, so `second` takes every one
    assert {start_conversation(tenant_a.business).assignee_id for _ in range(3)} == {second.pk}


def test_other_business_members_are_never_chosen(tenant_a, tenant_b):
    set_mode(tenant_a.business, TERRITORY)
    # a stray row naming another business's member (the settings page refuses this; the router must too)
    territory(tenant_a.business, "Downtown", ["941"], [tenant_b.operator])
    for user in members_in_turn(tenant_a):
        mark_away(user, tenant_a.business)
    conversation = start_conversation(tenant_a.business, zip_code="94107")
    assert conversation.assignee_id is None  # everyone of A is away: it waits, nobody of B gets it
    mark_away(tenant_a.admin, tenant_a.business, away=False)
    assert start_conversation(tenant_a.business, zip_code="94107").assignee_id == tenant_a.admin.pk


def test_everyone_away_leaves_the_conversation_unassigned(tenant_a):
    set_mode(tenant_a.business, ROUND_ROBIN)
    for user in members_in_turn(tenant_a):
        mark_away(user, tenant_a.business)
    assert start_conversation(tenant_a.business).assignee_id is None
    assert not ConversationEvent.objects.exists()


def test_an_assigned_or_closed_conversation_is_left_alone(tenant_a):
    set_mode(tenant_a.business, ROUND_ROBIN)
    taken = ConversationFactory(contact=ContactFactory(business=tenant_a.business), assignee=tenant_a.operator)
    closed = ConversationFactory(contact=ContactFactory(business=tenant_a.business), status="closed")
    with transaction.atomic():
        assert route_new_conversation(taken) is None
        assert route_new_conversation(closed) is None
    taken.refresh_from_db()
    closed.refresh_from_db()
    assert (taken.assignee_id, closed.assignee_id) == (tenant_a.operator.pk, None)
    assert not ConversationEvent.objects.exists()


# --- territories -------------------------------------------------------------------------------------------------


def test_zip_codes_are_read_as_five_ascii_digits():
    assert normalise_zip(" 94107-1234 ") == "94107"
    assert [normalise_zip(z) for z in ("9410", "941077", "SW1A 1AA", "٩٤١٠٧", "")] == [""] * 5


def test_territory_longest_prefix_wins_and_takes_turns_inside(tenant_a):
    business = tenant_a.business
    set_mode(business, TERRITORY)
    city = territory(business, "City", ["941"], [tenant_a.operator])
    downtown = territory(business, "Downtown", ["94107", "94108"], [tenant_a.admin, tenant_a.owner])
    inside = sorted([tenant_a.admin, tenant_a.owner], key=lambda u: u.pk)

    assert [start_conversation(business, zip_code="94107-1234").assignee_id for _ in range(3)] == [
        inside[0].pk,
        inside[1].pk,
        inside[0].pk,
    ]
    assert start_conversation(business, zip_code="94110").assignee_id == tenant_a.operator.pk
    downtown.refresh_from_db()
    city.refresh_from_db()
    assert (downtown.last_assigned_id, city.last_assigned_id) == (inside[0].pk, tenant_a.operator.pk)
    rules = list(ConversationEvent.objects.order_by("pk").values_list("data__rule", flat=True))
    assert rules == ["territory:Downtown"] * 3 + ["territory:City"]
    # the territory pointers are their own: the team-wide one has not moved
    assert RoutingSettings.objects.get(business=business).last_assigned_id is None


def test_territory_with_nobody_available_falls_to_the_next_match_then_the_team(tenant_a):
    business = tenant_a.business
    set_mode(business, TERRITORY)
    territory(business, "City", ["941"], [tenant_a.operator])
    territory(business, "Downtown", ["94107"], [tenant_a.admin])
    mark_away(tenant_a.admin, business)
    assert start_conversation(business, zip_code="94107").assignee_id == tenant_a.operator.pk
    mark_away(tenant_a.operator, business)
    # nobody in either territory: the whole team's round robin, recorded as such
    conversation = start_conversation(business, zip_code="94107")
    assert conversation.assignee_id == tenant_a.owner.pk
    assert ConversationEvent.objects.get(conversation=conversation).data["rule"] == "round_robin"


def test_zip_outside_every_territory_goes_round_the_team(tenant_a):
    business = tenant_a.business
    set_mode(business, TERRITORY)
    territory(business, "City", ["941"], [tenant_a.operator])
    first = members_in_turn(tenant_a)[0]
    conversation = start_conversation(business, zip_code="10001")
    assert conversation.assignee_id == first.pk
    assert RoutingSettings.objects.get(business=business).last_assigned_id == first.pk


def test_without_a_zip_the_conversation_waits_for_the_intake_form(tenant_a, number_a):
    business = tenant_a.business
    set_mode(business, TERRITORY)
    territory(business, "City", ["941"], [tenant_a.operator])
    conversation = start_conversation(business)
    assert conversation.assignee_id is None
    conversation.phone_number = number_a
    conversation.save()
    link = intake_link_for(conversation=conversation)
    intake_submit(link=link, data={"description": "Leak", "zip_code": "94110"}, photos=None, language="en")
    conversation.refresh_from_db()
    assert conversation.assignee_id == tenant_a.operator.pk
    # a second submission changes nothing: the conversation has an assignee now
    intake_submit(link=link, data={"description": "Leak", "zip_code": "10001"}, photos=None, language="en")
    assert ConversationEvent.objects.filter(conversation=conversation).count() == 1


def test_an_intake_form_without_a_zip_goes_round_the_team(tenant_a):
    business = tenant_a.business
    set_mode(business, TERRITORY)
    territory(business, "City", ["941"], [tenant_a.operator])
    conversation = start_conversation(business)
    intake_submit(
        link=intake_link_for(conversation=conversation), data={"description": "Leak"}, photos=None, language="en"
    )
    conversation.refresh_from_db()
    assert conversation.assignee_id == members_in_turn(tenant_a)[0].pk


def test_a_zip_the_caller_gave_before_beats_the_carriers_guess(tenant_a):
    business = tenant_a.business
    set_mode(business, TERRITORY)
    territory(business, "City", ["941"], [tenant_a.operator])
    territory(business, "East Bay", ["946"], [tenant_a.admin])
    conversation = start_conversation(business, zip_code="94103", contact_zip="94612")
    assert conversation.assignee_id == tenant_a.admin.pk


def test_missed_call_is_routed_by_the_carriers_caller_zip(tenant_a, number_a):
    """Twilio's incoming-call webhook carries FromZip/CallerZip (94103 in the fixture); the missed call uses it."""
    set_mode(tenant_a.business, TERRITORY)
    territory(tenant_a.business, "City", ["941"], [tenant_a.operator])
    call_sid = twilio.sid("CA")
    incoming = twilio.payload("voice_incoming", call_sid=call_sid, caller=CALLER, number=NUMBER_A)
    assert twilio.post("/webhooks/twilio/voice/", incoming).status_code == 200
    _, response = twilio.missed_call(call_sid)
    assert response.status_code == 200
    conversation = Conversation.objects.get(business=tenant_a.business, contact__phone=CALLER)
    assert conversation.assignee_id == tenant_a.operator.pk
    assert ConversationEvent.objects.get(conversation=conversation).data["rule"] == "territory:City"


def test_an_inbound_text_starting_a_conversation_is_routed(tenant_a, number_a):
    set_mode(tenant_a.business, ROUND_ROBIN)
    params = twilio.payload(
        "sms_inbound", message_sid=twilio.sid("SM"), caller=CALLER, number=NUMBER_A, body="Do you fix boilers?"
    )
    assert twilio.post("/webhooks/twilio/sms/", params).status_code == 200
    conversation = Conversation.objects.get(business=tenant_a.business, contact__phone=CALLER)
    assert conversation.assignee_id == members_in_turn(tenant_a)[0].pk


# --- concurrency -------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_conversations_starting_at_once_go_to_two_people(tenant_a, monkeypatch):
    """Real transactions in two threads. Each holds its locks a while after assigning (a slow `touch`), so
    without the pointer lock both would read the same pointer and pick the same person."""
    business = tenant_a.business
    set_mode(business, ROUND_ROBIN)
    mark_away(tenant_a.owner, business)
    real_touch = live.touch

    def slow_touch(*args, **kwargs):
        real_touch(*args, **kwargs)
        time.sleep(0.3)

    monkeypatch.setattr(live, "touch", slow_touch)
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def worker(i: int) -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                contact = contact_get_locked(business=business, phone=f"+1415555700{i}")
                conversation, _ = conversation_open_for(contact=contact, at=timezone.now())
            results[i] = Conversation.objects.get(pk=conversation.pk).assignee_id
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == sorted([tenant_a.admin.pk, tenant_a.operator.pk])


# --- the Assignment page -----------------------------------------------------------------------------------------


def routing_url(tenant) -> str:
    return reverse("settings_routing", args=[tenant.business.slug])


def add_url(tenant) -> str:
    return reverse("settings_territory_add", args=[tenant.business.slug])


def test_assignment_pages_are_for_owners_and_admins(client_for, tenant_a, tenant_b):
    city = territory(tenant_a.business, "City", ["941"], [tenant_a.operator])
    slug = tenant_a.business.slug
    managers = (Membership.Role.OWNER, Membership.Role.ADMIN)
    for url, method, data in [
        (routing_url(tenant_a), "get", None),
        (routing_url(tenant_a), "post", {"mode": "manual"}),
        (add_url(tenant_a), "post", {"name": "X"}),
        (reverse("settings_territory_edit", args=[slug, city.pk]), "get", None),
        (reverse("settings_territory_edit", args=[slug, city.pk]), "post", {"name": "X"}),
    ]:
        assert_guarded(client_for, url, own=tenant_a, other=tenant_b, allowed_roles=managers, method=method, data=data)
    response = client_for(tenant_a.operator).post(reverse("settings_territory_delete", args=[slug, city.pk]))
    assert response.status_code == 403
    assert Territory.objects.filter(pk=city.pk).exists()


def test_another_business_territory_is_not_found(client_for, tenant_a, tenant_b):
    theirs = territory(tenant_b.business, "Theirs", ["100"], [tenant_b.operator])
    client = client_for(tenant_a.owner)
    slug = tenant_a.business.slug
    assert client.get(reverse("settings_territory_edit", args=[slug, theirs.pk])).status_code == 404
    assert client.post(reverse("settings_territory_edit", args=[slug, theirs.pk]), {"name": "Mine"}).status_code == 404
    assert client.post(reverse("settings_territory_delete", args=[slug, theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"


def test_owner_sets_the_rule_with_an_audit_entry(client_for, tenant_a):
    client = client_for(tenant_a.admin)
    page = client.get(routing_url(tenant_a))
    assert page.status_code == 200 and b"Assignment" in page.content
    response = client.post(routing_url(tenant_a), {"mode": "round_robin"})
    assert response.status_code == 302
    assert RoutingSettings.objects.get(business=tenant_a.business).mode == ROUND_ROBIN
    event = AuditEvent.objects.get(business=tenant_a.business, action="routing.mode_update")
    assert (event.actor, event.detail) == (tenant_a.admin, {"old": "manual", "new": "round_robin"})
    client.post(routing_url(tenant_a), {"mode": "round_robin"})  # no change, no second entry
    assert AuditEvent.objects.filter(action="routing.mode_update").count() == 1


def test_an_unknown_rule_is_a_form_error(client_for, tenant_a):
    response = client_for(tenant_a.owner).post(routing_url(tenant_a), {"mode": "everyone"})
    assert response.status_code == 200
    assert "Choose one of the assignment rules listed." in response.content.decode()
    assert not RoutingSettings.objects.exists()


def test_owner_adds_edits_and_deletes_a_territory(client_for, tenant_a):
    client = client_for(tenant_a.owner)
    data = {"name": "North side", "zip_prefixes": "94110, 941\n94107 94110", "assignees": [tenant_a.operator.pk]}
    response = client.post(add_url(tenant_a), data)
    assert response.status_code == 302 and response["Location"].endswith("#territories")
    north = Territory.objects.get(business=tenant_a.business)
    assert (north.name, north.zip_prefixes) == ("North side", ["941", "94107", "94110"])
    assert list(north.assignees.all()) == [tenant_a.operator]
    created = AuditEvent.objects.get(action="routing.territory_create")
    assert created.detail["zip_prefixes"] == ["941", "94107", "94110"]
    assert created.detail["assignees"] == [tenant_a.operator.pk]

    edit_url = reverse("settings_territory_edit", args=[tenant_a.business.slug, north.pk])
    page = client.get(edit_url).content.decode()
    assert "941, 94107, 94110" in page
    response = client.post(
        edit_url, {"name": "North", "zip_prefixes": "940", "assignees": [tenant_a.admin.pk, tenant_a.owner.pk]}
    )
    assert response.status_code == 302
    north.refresh_from_db()
    assert (north.name, north.zip_prefixes) == ("North", ["940"])
    assert set(north.assignees.all()) == {tenant_a.admin, tenant_a.owner}
    assert AuditEvent.objects.filter(action="routing.territory_update").count() == 1
    listing = client.get(routing_url(tenant_a)).content.decode()
    assert "North" in listing and "940" in listing

    response = client.post(reverse("settings_territory_delete", args=[tenant_a.business.slug, north.pk]))
    assert response.status_code == 302
    assert not Territory.objects.exists()
    assert AuditEvent.objects.get(action="routing.territory_delete").detail == {"name": "North"}


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("94-1, abcde", "“94-1”, “abcde” are not ZIP codes or prefixes"),
        ("12", "“12” is not a ZIP code or prefix"),
        ("941071", "“941071” is not a ZIP code or prefix"),
        ("٩٤١", "is not a ZIP code or prefix"),  # Arabic-Indic digits are digits to Python, not to us
        (" , ", "List at least one ZIP code or prefix."),
    ],
)
def test_bad_zip_prefixes_are_form_errors(client_for, tenant_a, typed, message):
    response = client_for(tenant_a.owner).post(add_url(tenant_a), {"name": "North", "zip_prefixes": typed})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Territory.objects.exists()


def test_a_prefix_can_be_in_one_territory_only_but_may_nest(client_for, tenant_a):
    territory(tenant_a.business, "City", ["941", "945"], [])
    client = client_for(tenant_a.owner)
    response = client.post(add_url(tenant_a), {"name": "Downtown", "zip_prefixes": "945 94107"})
    assert response.status_code == 200
    assert "A ZIP code or prefix can be in one territory only: 945 (in “City”)" in response.content.decode()
    response = client.post(add_url(tenant_a), {"name": "Downtown", "zip_prefixes": "94107"})
    assert response.status_code == 302  # inside City's 941: allowed, the longer prefix wins
    response = client.post(add_url(tenant_a), {"name": "city", "zip_prefixes": "100"})
    assert response.status_code == 200
    assert "There is already a territory called “city”." in response.content.decode()
    assert Territory.objects.count() == 2


def test_forged_assignee_ids_are_refused(client_for, tenant_a, tenant_b):
    stranger = UserFactory()
    MembershipFactory(business=tenant_b.business, user=stranger)
    client = client_for(tenant_a.owner)
    for forged in (tenant_b.operator.pk, stranger.pk, 999999):
        response = client.post(
            add_url(tenant_a), {"name": "North", "zip_prefixes": "941", "assignees": [tenant_a.operator.pk, forged]}
        )
        assert response.status_code == 200
        assert "Choose people on your team only." in response.content.decode()
    assert not Territory.objects.exists()
    # the page offers this business's members only
    page = client.get(routing_url(tenant_a)).content.decode()
    assert tenant_a.operator.email in page and tenant_b.operator.email not in page


def test_the_page_says_who_takes_turns_and_warns_when_no_zip_is_asked(client_for, tenant_a):
    from intake.services import intake_settings_for

    set_mode(tenant_a.business, TERRITORY)
    mark_away(tenant_a.admin, tenant_a.business)
    intake_settings = intake_settings_for(business=tenant_a.business)
    intake_settings.fields_shown = ["description"]
    intake_settings.save()
    page = client_for(tenant_a.owner).get(routing_url(tenant_a)).content.decode()
    assert "Skipped while away: " + tenant_a.admin.full_name in page
    assert "No territories yet" in page
    assert "does not ask for a ZIP code" in page


@pytest.mark.django_db
def test_a_new_conversation_is_new_only_inside_the_transaction_that_created_it(
    tenant_a, django_capture_on_commit_callbacks
):
    """Its `created_now` lets the text-back create the intake link without a savepoint; after commit, another
    transaction must look (and insert in a savepoint) like for any other conversation."""
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        contact = contact_get_locked(business=tenant_a.business, phone="+14155557009")
        conversation, created = conversation_open_for(contact=contact, at=timezone.now())
        assert created and conversation.created_now
    assert not hasattr(conversation, "created_now")

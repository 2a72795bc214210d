"""The inbox list: views, counts, search, row contents, keyset pagination and its query budget."""

import datetime as dt
import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inbox import selectors
from inbox.models import Conversation
from inbox.selectors import INBOX_VIEWS, inbox_counts, inbox_page, waiting_label
from intake.models import IntakeSubmission
from intake.services import intake_link_for
from messaging.models import Message
from tenants.permissions import EVERYONE
from tests.factories import ContactFactory, ConversationFactory
from tests.tenancy import assert_guarded

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
S = Conversation.Status
P = Conversation.Priority


def minutes(n: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=n)


def conversation(
    business,
    *,
    status=S.NEW,
    priority=P.NORMAL,
    assignee=None,
    inbound=None,
    outbound=None,
    activity=T0,
    created=T0,
    **contact,
) -> Conversation:
    row = ConversationFactory(
        contact=ContactFactory(business=business, **contact),
        business=business,
        status=status,
        priority=priority,
        assignee=assignee,
        last_inbound_at=inbound,
        last_outbound_at=outbound,
        last_activity_at=activity,
    )
    Conversation.objects.filter(pk=row.pk).update(created_at=created)  # auto_now_add ignores the argument
    row.refresh_from_db()
    return row


def message(conv: Conversation, body: str, *, direction: str = "in", when=T0) -> Message:
    caller, ours = conv.contact.phone, "+14155550000"
    row = Message.objects.create(
        business=conv.business,
        conversation=conv,
        direction=direction,
        kind="inbound" if direction == "in" else "reply",
        from_number=caller if direction == "in" else ours,
        to_number=ours if direction == "in" else caller,
        body=body,
        status="received" if direction == "in" else "sent",
        provider="twilio",
    )
    Message.objects.filter(pk=row.pk).update(created_at=when)
    return row


def intake(conv: Conversation, *, service_type="Leak", urgency="emergency", zip_code="") -> IntakeSubmission:
    return IntakeSubmission.objects.create(
        business=conv.business,
        link=intake_link_for(conversation=conv),
        conversation=conv,
        service_type=service_type,
        urgency=urgency,
        zip_code=zip_code,
    )


def inbox_url(tenant) -> str:
    return reverse("inbox", args=[tenant.business.slug])


def listed(client, url: str, **params) -> list[int]:
    response = client.get(url, params)
    assert response.status_code == 200
    return [row.pk for row in response.context["rows"]]


def test_inbox_is_for_members_of_the_business_only(client_for, tenant_a, tenant_b):
    assert_guarded(client_for, inbox_url(tenant_a), own=tenant_a, other=tenant_b, allowed_roles=EVERYONE)


@pytest.fixture
def triage(tenant_a, tenant_b):
    """One conversation per situation in business A, and a lookalike in business B that must never show."""
    a = tenant_a.business
    rows = {
        # missed call, text-back sent, nobody has acted: needs a person
        "new_textback": conversation(a, status=S.NEW, outbound=minutes(1)),
        # the caller answered our text
        "caller_wrote_last": conversation(
            a, status=S.OPEN, outbound=minutes(1), inbound=minutes(5), assignee=tenant_a.operator
        ),
        # we answered the caller
        "we_wrote_last": conversation(
            a, status=S.OPEN, inbound=minutes(1), outbound=minutes(5), assignee=tenant_a.owner
        ),
        # a text to the business that nobody answered yet
        "never_answered": conversation(a, status=S.OPEN, inbound=minutes(2), priority=P.URGENT),
        "waiting": conversation(a, status=S.WAITING, inbound=minutes(1), outbound=minutes(2)),
        "snoozed": conversation(a, status=S.SNOOZED, inbound=minutes(1)),
        "booked": conversation(a, status=S.BOOKED, assignee=tenant_a.operator),
        "lost": conversation(a, status=S.LOST, priority=P.URGENT),
        "closed": conversation(a, status=S.CLOSED),
    }
    conversation(tenant_b.business, status=S.NEW, priority=P.URGENT)  # business B: never in A's inbox
    conversation(tenant_b.business, status=S.CLOSED, assignee=tenant_a.operator)
    return rows


EXPECTED = {
    "needs_reply": {"new_textback", "caller_wrote_last", "never_answered"},
    "mine": {"caller_wrote_last"},  # the operator's active conversations; a booked one is done
    "unassigned": {"new_textback", "never_answered", "waiting", "snoozed"},
    "urgent": {"never_answered"},
    "snoozed": {"snoozed"},
    "closed": {"booked", "lost", "closed"},
    "all": {"new_textback", "caller_wrote_last", "we_wrote_last", "never_answered", "waiting", "snoozed"}
    | {"booked", "lost", "closed"},
}


@pytest.mark.parametrize("view", [v.key for v in INBOX_VIEWS])
def test_each_view_lists_its_conversations_of_this_business_only(client_for, tenant_a, triage, view):
    pks = listed(client_for(tenant_a.operator), inbox_url(tenant_a), view=view)
    assert sorted(pks) == sorted(triage[name].pk for name in EXPECTED[view])


def test_needs_reply_is_the_default_view(client_for, tenant_a, triage):
    response = client_for(tenant_a.operator).get(inbox_url(tenant_a))
    assert response.context["view"] == "needs_reply"
    assert {row.pk for row in response.context["rows"]} == {triage[n].pk for n in EXPECTED["needs_reply"]}


def test_an_unknown_view_falls_back_to_needs_reply(client_for, tenant_a, triage):
    pks = listed(client_for(tenant_a.operator), inbox_url(tenant_a), view="bogus")
    assert set(pks) == {triage[n].pk for n in EXPECTED["needs_reply"]}


def test_counts_per_view_in_one_query(client_for, tenant_a, triage, django_assert_num_queries):
    expected = {view: len(names) for view, names in EXPECTED.items()}
    with django_assert_num_queries(1):
        counts = inbox_counts(business_id=tenant_a.business.pk, user=tenant_a.operator)
    assert counts == expected
    response = client_for(tenant_a.operator).get(inbox_url(tenant_a))
    assert {tab["key"]: tab["count"] for tab in response.context["tabs"]} == expected
    # "Mine" is per member
    assert inbox_counts(business_id=tenant_a.business.pk, user=tenant_a.owner)["mine"] == 1


def test_needs_reply_puts_urgent_first_then_the_longest_waiting(tenant_a):
    a = tenant_a.business
    recent = conversation(a, status=S.OPEN, inbound=minutes(-10))
    oldest = conversation(a, status=S.OPEN, inbound=minutes(-60))
    urgent = conversation(a, status=S.OPEN, inbound=minutes(-5), priority=P.URGENT)
    high = conversation(a, status=S.OPEN, inbound=minutes(-30), priority=P.HIGH)
    # a missed call with no text from the caller waits since the conversation started
    missed = conversation(a, status=S.NEW, outbound=minutes(-44), created=minutes(-45))
    page = inbox_page(business_id=a.pk, user=tenant_a.operator)
    assert [row.pk for row in page.rows] == [urgent.pk, high.pk, oldest.pk, missed.pk, recent.pk]


def test_row_shows_caller_intake_last_message_and_waiting_time(client_for, tenant_a):
    a = tenant_a.business
    now = timezone.now()
    named = conversation(
        a, status=S.OPEN, name="Dana Whitfield", inbound=now - dt.timedelta(minutes=12), priority=P.URGENT
    )
    intake(named, service_type="Water heater", urgency="emergency")
    message(named, "Hi, thanks for calling back", direction="out", when=now - dt.timedelta(minutes=20))
    message(named, "The basement is flooding", when=now - dt.timedelta(minutes=12))
    anonymous = conversation(a, status=S.NEW, phone="+14155550123", created=now - dt.timedelta(minutes=3))
    html = client_for(tenant_a.operator).get(inbox_url(tenant_a)).content.decode()
    assert "Dana Whitfield" in html
    assert "Water heater" in html and "Emergency — now" in html
    assert "The basement is flooding" in html and "thanks for calling back" not in html
    assert "waiting 12 min" in html
    assert "Urgent" in html and "Open" in html
    assert "(415) 555-0123" in html and "waiting 3 min" in html and "No messages yet" in html
    for row in (named, anonymous):
        assert reverse("conversation", args=[a.slug, row.pk]) in html


def test_waiting_label():
    assert waiting_label(since=T0, now=T0 + dt.timedelta(seconds=30)) == "waiting <1 min"
    assert waiting_label(since=T0, now=minutes(12)) == "waiting 12 min"
    assert waiting_label(since=T0, now=minutes(180)) == "waiting 3 h"
    assert waiting_label(since=T0, now=minutes(185)) == "waiting 3 h 5 min"
    assert waiting_label(since=T0, now=minutes(60 * 50)) == "waiting 2 d"


@pytest.fixture
def searchable(tenant_a, tenant_b):
    a, b = tenant_a.business, tenant_b.business
    rows = {
        "by_phone": conversation(a, phone="+14155550123"),
        "by_name": conversation(a, status=S.CLOSED, name="Dana Whitfield"),
        "by_zip": conversation(a, zip_code="94110"),
        "by_text": conversation(a, status=S.WAITING),
        "by_intake_zip": conversation(a),
        "other": conversation(a, name="Someone Else", zip_code="10001"),
    }
    message(rows["by_text"], "My water heater is leaking")
    message(rows["other"], "Need a quote for a sink")
    intake(rows["by_intake_zip"], zip_code="94607")
    # business B has the same name, number, ZIP and words: never found from A
    conversation(b, phone="+14155550123", name="Dana Whitfield", zip_code="94110")
    message(conversation(b), "my water heater too")
    return rows


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("(415) 555-0123", "by_phone"),
        ("415.555.0123", "by_phone"),
        ("+1 415 555 0123", "by_phone"),
        ("dana", "by_name"),
        ("WHITFIELD", "by_name"),
        ("94110", "by_zip"),
        ("94607", "by_intake_zip"),
        ("Water Heater", "by_text"),
    ],
)
def test_search(client_for, tenant_a, searchable, q, expected):
    client = client_for(tenant_a.operator)
    assert listed(client, inbox_url(tenant_a), view="all", q=q) == [searchable[expected].pk]
    # the counts follow the search
    counts = {tab["key"]: tab["count"] for tab in client.get(inbox_url(tenant_a), {"q": q}).context["tabs"]}
    assert counts["all"] == 1


def test_search_with_no_match_says_so(client_for, tenant_a, searchable):
    response = client_for(tenant_a.operator).get(inbox_url(tenant_a), {"view": "all", "q": "zebra"})
    assert list(response.context["rows"]) == []
    assert "No conversations match" in response.content.decode()


def _walk(client, url: str, view: str) -> list[int]:
    pks, cursor, pages = [], "", 0
    while True:
        response = client.get(url, {"view": view, **({"after": cursor} if cursor else {})})
        assert response.status_code == 200
        rows = response.context["rows"]
        assert len(rows) <= 25
        pks += [row.pk for row in rows]
        pages += 1
        cursor = response.context["next_cursor"]
        if not cursor:
            assert 'rel="next"' not in response.content.decode()
            return pks
        assert f"after={cursor}" in response.content.decode()  # the "Older" link carries the cursor
        assert pages < 10


def test_keyset_pagination_walks_every_conversation_once_in_order_despite_ties(client_for, tenant_a, tenant_b):
    a = tenant_a.business
    priorities = itertools.cycle([P.NORMAL, P.NORMAL, P.URGENT, P.HIGH])
    rows = [
        # 60 conversations whose timestamps tie in groups of 7, so the id has to break ties across page edges
        conversation(
            a,
            status=S.OPEN,
            priority=next(priorities),
            inbound=minutes(-(i // 7)),
            activity=minutes(i // 7),
        )
        for i in range(60)
    ]
    conversation(tenant_b.business, status=S.OPEN, inbound=minutes(0))
    client = client_for(tenant_a.operator)

    rank = {P.URGENT: 0, P.HIGH: 1, P.NORMAL: 2}
    needs_reply = sorted(rows, key=lambda c: (rank[c.priority], c.last_inbound_at, c.pk))
    assert _walk(client, inbox_url(tenant_a), "needs_reply") == [c.pk for c in needs_reply]

    newest_first = sorted(rows, key=lambda c: (c.last_activity_at, c.pk), reverse=True)
    assert _walk(client, inbox_url(tenant_a), "all") == [c.pk for c in newest_first]


def test_a_malformed_cursor_shows_the_first_page(client_for, tenant_a):
    row = conversation(tenant_a.business)
    assert listed(client_for(tenant_a.operator), inbox_url(tenant_a), after="not-a-cursor!") == [row.pk]


EXPECTED_QUERIES_PER_PAGE = 6


def _busy_conversations(tenant, count: int) -> None:
    for i in range(count):
        row = conversation(tenant.business, status=S.OPEN, inbound=minutes(-i), assignee=tenant.operator, name=f"C{i}")
        message(row, f"question {i}", when=minutes(-i))
        message(row, f"answer {i}", direction="out", when=minutes(-i + 0.5))
        intake(row, service_type=f"Service {i}")


@pytest.mark.parametrize("view", ["needs_reply", "all"])
def test_the_page_costs_the_same_number_of_queries_whatever_it_holds(client_for, tenant_a, view):
    client = client_for(tenant_a.operator)
    url = inbox_url(tenant_a)

    def measure(expected_rows: int) -> int:
        client.get(url, {"view": view})  # warm the session and anything cached per process
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, {"view": view})
        assert len(response.context["rows"]) == expected_rows
        response.content.decode()  # the template is rendered by now: any lazy access would have been captured
        return len(queries)

    _busy_conversations(tenant_a, 3)
    small = measure(3)
    _busy_conversations(tenant_a, 30)
    full = measure(25)
    assert small == full
    # session, user, membership (middleware), the counts, the page, the nav's business switcher: nothing per row
    assert full == EXPECTED_QUERIES_PER_PAGE


def test_the_list_itself_is_one_query(tenant_a, django_assert_num_queries):
    _busy_conversations(tenant_a, 5)
    with django_assert_num_queries(1):
        page = inbox_page(business_id=tenant_a.business.pk, user=tenant_a.operator, view="all", q="question")
        for row in page.rows:  # what the template reads
            _ = (row.contact.display, row.assignee, row.last_message_excerpt, row.intake_service_type)
    assert len(page.rows) == 5


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "?q=a%00b",
        "?after=WyIyMDI0LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgSW5maW5pdHld",
        "?view=all&after=WyIyMDI0LTAxLTAxIiwxXQ",
        # ids and ranks beyond bigint, times at the ends of the calendar
        "?view=all&after=WyIyMDI0LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgMTAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMF0",
        "?after=WzEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAsICIyMDI0LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgLTEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDBd",
        "?view=all&after=WyI5OTk5LTEyLTMxVDIzOjU5OjU5KzAwOjAwIiwgMV0",
        "?view=all&after=WyIwMDAxLTAxLTAxVDAwOjAwOjAwKzE0OjAwIiwgMV0&q=water",
    ],
)
def test_odd_search_and_cursors_never_fail(tenant_a, client_for, query):
    assert client_for(tenant_a.operator).get("/app/acme/inbox/" + query).status_code == 200


# ---------------------------------------------------------------------------------------------------------------
# Choices made for 100k conversations (bench/inbox_scale.py, docs/performance.md): capped counts, search from 3
# characters, numbers only from phone-shaped queries, search pages built from one branch per kind of match.


def test_large_views_count_up_to_a_cap_and_say_so(client_for, tenant_a, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_CAP", 3)
    a = tenant_a.business
    for _ in range(4):
        conversation(a, status=S.CLOSED)
    conversation(a, status=S.NEW)
    counts = inbox_counts(business_id=a.pk, user=tenant_a.operator)
    assert counts["closed"] == 3 and counts["closed"].at_least and str(counts["closed"]) == "3+"
    assert counts["all"] == 3 and counts["all"].at_least
    assert counts["needs_reply"] == 1 and not counts["needs_reply"].at_least and str(counts["needs_reply"]) == "1"
    html = client_for(tenant_a.operator).get(inbox_url(tenant_a)).content.decode()
    assert '<span class="count">3+</span>' in html
    assert str(selectors.ViewCount(10_000, at_least=True)) == "10,000+"


def test_search_counts_stop_at_a_cap_and_say_so(tenant_a, monkeypatch):
    monkeypatch.setattr(selectors, "SEARCH_COUNT_CAP", 2)
    a = tenant_a.business
    for status in (S.NEW, S.CLOSED, S.CLOSED):
        message(conversation(a, status=status), "the sump pump is off")
    conversation(a, name="Sump Pumpington", status=S.OPEN)
    counts = inbox_counts(business_id=a.pk, user=tenant_a.operator, q="sump pump")
    assert counts["all"] >= 2 and all(count.at_least for count in counts.values())
    # under the cap the counts are exact
    monkeypatch.setattr(selectors, "SEARCH_COUNT_CAP", 50)
    counts = inbox_counts(business_id=a.pk, user=tenant_a.operator, q="sump pump")
    assert (counts["all"], counts["closed"], counts["needs_reply"]) == (4, 2, 2)
    assert not any(count.at_least for count in counts.values())


@pytest.mark.parametrize("q", ["ab", "a", "Wu", "zz"])
def test_names_and_text_are_searched_from_three_characters(client_for, tenant_a, q):
    a = tenant_a.business
    message(conversation(a, name="Abby Wu"), "zz ab a")
    assert listed(client_for(tenant_a.operator), inbox_url(tenant_a), view="all", q=q) == []
    assert inbox_counts(business_id=a.pk, user=tenant_a.operator, q=q)["all"] == 0
    assert listed(client_for(tenant_a.operator), inbox_url(tenant_a), view="all", q="Abby") != []


def test_digits_in_an_address_are_not_a_phone_number(client_for, tenant_a):
    a = tenant_a.business
    caller = conversation(a, phone="+14155550471")
    texted = conversation(a)
    message(texted, "Leak at 0471 Birch Blvd")
    client = client_for(tenant_a.operator)
    assert listed(client, inbox_url(tenant_a), view="all", q="0471 Birch") == [texted.pk]
    assert sorted(listed(client, inbox_url(tenant_a), view="all", q="0471")) == sorted([caller.pk, texted.pk])
    assert listed(client, inbox_url(tenant_a), view="all", q="555-0471") == [caller.pk]


def test_search_ignores_the_teams_own_alerts(client_for, tenant_a):
    row = conversation(tenant_a.business)
    Message.objects.create(
        business=tenant_a.business,
        conversation=row,
        direction="out",
        kind=Message.Kind.NOTIFICATION,
        from_number="+14155550000",
        to_number="+14155550999",
        body="New lead waiting: geyser",
        status="sent",
        provider="twilio",
    )
    assert listed(client_for(tenant_a.operator), inbox_url(tenant_a), view="all", q="geyser") == []


@pytest.mark.parametrize("view", ["needs_reply", "all"])
def test_search_pages_walk_every_match_once_in_order(client_for, tenant_a, tenant_b, view):
    """Matches from the caller's name, their number, an intake ZIP and message text, interleaved in the view's
    order with ties, are paged through exactly once each."""
    a = tenant_a.business
    priorities = itertools.cycle([P.NORMAL, P.URGENT, P.NORMAL, P.HIGH])
    matching = []
    for i in range(40):
        kind = i % 4
        row = conversation(
            a,
            status=S.OPEN,
            priority=next(priorities),
            inbound=minutes(-(i // 5)),
            activity=minutes(i // 5),
            name="Pat Quillfeather" if kind == 0 else "",
            phone=f"+1415555{i:04d}",
        )
        if kind == 1:
            message(row, "is the quillfeather valve in stock?")
        elif kind == 2:
            intake(row, zip_code="94110")
            message(row, "quillfeather")  # matches two ways: listed once
        matching.append(row)
    conversation(a, status=S.OPEN, inbound=minutes(0), name="Someone Else")  # no match
    conversation(tenant_b.business, status=S.OPEN, inbound=minutes(0), name="Pat Quillfeather")  # other business
    client = client_for(tenant_a.operator)

    def walk(q: str) -> list[int]:
        pks, cursor = [], ""
        while True:
            response = client.get(inbox_url(tenant_a), {"view": view, "q": q, **({"after": cursor} if cursor else {})})
            pks += [row.pk for row in response.context["rows"]]
            cursor = response.context["next_cursor"]
            if not cursor:
                return pks

    rank = {P.URGENT: 0, P.HIGH: 1, P.NORMAL: 2}
    if view == "needs_reply":
        expected = sorted(matching, key=lambda c: (rank[c.priority], c.last_inbound_at, c.pk))
    else:
        expected = sorted(matching, key=lambda c: (c.last_activity_at, c.pk), reverse=True)
    named_or_texted = [c.pk for i, c in enumerate(expected) if matching.index(c) % 4 in (0, 1, 2)]
    assert walk("quillfeather") == named_or_texted
    assert walk("94110") == [c.pk for c in expected if matching.index(c) % 4 == 2]

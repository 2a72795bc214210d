"""The Calls page: every role sees the business's calls (never another's), why each caller was or was not texted,
filters, paging, and a query count that does not grow with the number of calls."""

import datetime as dt
import re
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from telephony.models import Call
from tenants.permissions import EVERYONE
from tests.factories import CallFactory, ContactFactory, ConversationFactory, PhoneNumberFactory
from tests.tenancy import assert_guarded

pytestmark = pytest.mark.django_db


def calls_url(tenant, **query) -> str:
    base = reverse("calls", args=[tenant.business.slug])
    if query:
        from urllib.parse import urlencode

        base += "?" + urlencode(query)
    return base


@pytest.fixture
def number_a(tenant_a):
    return PhoneNumberFactory(business=tenant_a.business, e164="+16282003000", label="Office line")


@pytest.fixture
def number_b(tenant_b):
    return PhoneNumberFactory(business=tenant_b.business, e164="+16282004000", label="Bolt line")


def missed_call(number, caller="+14152413000", **extra):
    contact = ContactFactory(business=number.business, phone=caller, name=extra.pop("contact_name", ""))
    conversation = ConversationFactory(contact=contact)
    return CallFactory(phone_number=number, caller=caller, contact=contact, conversation=conversation, **extra)


def test_calls_page_is_for_every_member(client_for, tenant_a, tenant_b):
    assert_guarded(client_for, calls_url(tenant_a), own=tenant_a, other=tenant_b, allowed_roles=EVERYONE)


def test_shows_my_calls_with_outcome_and_text_back_decision(client_for, tenant_a, number_a):
    started = dt.datetime(2026, 3, 2, 19, 5, tzinfo=dt.UTC)  # 2:05 PM in New York (EST)
    missed_call(number_a, caller="+14152413001", started_at=started, contact_name="Dana Jones")
    CallFactory(
        phone_number=number_a,
        caller="",
        from_raw="anonymous",
        started_at=started - dt.timedelta(hours=1),
        decision=Call.Decision.SPAM,
        decision_reason="Caller id withheld or anonymous.",
    )
    CallFactory(
        phone_number=number_a,
        caller="+14152413002",
        status=Call.Status.ANSWERED,
        missed_reason="",
        decision=Call.Decision.NOT_MISSED,
        decision_reason="Answered by a person.",
        duration=42,
        started_at=started - dt.timedelta(hours=2),
    )
    response = client_for(tenant_a.operator).get(calls_url(tenant_a))
    assert response.status_code == 200
    html = response.content.decode()
    assert "(415) 241-3001" in html and "Dana Jones" in html
    assert "Office line" in html
    assert "Mon Mar 2, 2:05 PM" in html  # the business's time zone, not UTC
    assert "No answer" in html and "Text-back queued." in html
    assert "anonymous" in html and "Caller id withheld or anonymous." in html and "Not texted" in html
    assert "Answered by a person." in html and "42 s" in html
    # newest first
    assert html.index("(415) 241-3001") < html.index("anonymous") < html.index("(415) 241-3002")


def test_voicemail_recording_is_playable(client_for, tenant_a, number_a):
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE" + "a" * 32
    missed_call(number_a, recording_url=url, recording_duration=17)
    html = client_for(tenant_a.owner).get(calls_url(tenant_a)).content.decode()
    assert f'<audio controls preload="none" src="{url}.mp3">' in html
    assert "17 s" in html


def test_another_business_calls_never_appear(client_for, tenant_a, number_a, number_b):
    missed_call(number_a, caller="+14152413001")
    missed_call(number_b, caller="+14152419876", contact_name="Bolt Customer")
    for role in EVERYONE:
        html = client_for(tenant_a.user(role)).get(calls_url(tenant_a)).content.decode()
        assert "(415) 241-3001" in html
        assert "(415) 241-9876" not in html and "Bolt" not in html


@pytest.mark.parametrize(
    ("show", "expected"),
    [
        ("all", {"+14152415001", "+14152415002", "+14152415003"}),
        ("missed", {"+14152415001", "+14152415002"}),
        ("answered", {"+14152415003"}),
        ("not-texted", {"+14152415002"}),
        ("nonsense", {"+14152415001", "+14152415002", "+14152415003"}),
    ],
)
def test_filters(client_for, tenant_a, number_a, show, expected):
    CallFactory(phone_number=number_a, caller="+14152415001")
    CallFactory(phone_number=number_a, caller="+14152415002", decision=Call.Decision.BLOCKED)
    CallFactory(
        phone_number=number_a,
        caller="+14152415003",
        status=Call.Status.ANSWERED,
        missed_reason="",
        decision=Call.Decision.NOT_MISSED,
    )
    response = client_for(tenant_a.owner).get(calls_url(tenant_a, show=show))
    assert {call.caller for call in response.context["page"].calls} == expected


def test_pages_of_fifty_newest_first(client_for, tenant_a, number_a):
    now = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
    # two calls share a timestamp across the page boundary, so the cursor must order by id too
    for i in range(55):
        CallFactory(phone_number=number_a, caller=f"+141524160{i:02d}", started_at=now - dt.timedelta(minutes=i // 2))
    client = client_for(tenant_a.owner)
    first = client.get(calls_url(tenant_a))
    page = first.context["page"]
    assert len(page.calls) == 50 and page.next_cursor
    assert "Older calls" in first.content.decode()
    # follow the page's own link, so the cursor survives the template's URL encoding
    href = re.search(r'href="([^"]*before=[^"]*)">Older calls', first.content.decode()).group(1)
    second = client.get(calls_url(tenant_a) + unescape(href))
    rest = second.context["page"].calls
    assert len(rest) == 5 and second.context["page"].next_cursor is None
    seen = [c.pk for c in page.calls] + [c.pk for c in rest]
    expected = list(Call.objects.order_by("-started_at", "-pk").values_list("pk", flat=True))
    assert seen == expected
    assert "Newest calls" in second.content.decode()


def test_bad_cursor_shows_the_first_page(client_for, tenant_a, number_a):
    CallFactory(phone_number=number_a)
    for before in ("garbage", "2026-01-01T00:00:00~x", "2026-01-01T00:00:00~1"):
        response = client_for(tenant_a.owner).get(calls_url(tenant_a, before=before))
        assert response.status_code == 200
        assert len(response.context["page"].calls) == 1


def test_query_count_does_not_grow_with_calls(client_for, tenant_a, number_a):
    client = client_for(tenant_a.owner)
    other_number = PhoneNumberFactory(business=tenant_a.business, e164="+16282003001")

    def make(count: int, offset: int) -> None:
        for i in range(count):
            number = number_a if i % 2 else other_number
            missed_call(
                number,
                caller=f"+14152417{offset + i:03d}",
                contact_name=f"Caller {i}",
                recording_url="https://api.twilio.com/rec/RE1",
            )

    make(3, 0)
    client.get(calls_url(tenant_a))  # warm up session and caches
    with CaptureQueriesContext(connection) as few:
        assert client.get(calls_url(tenant_a)).status_code == 200
    make(27, 100)
    with CaptureQueriesContext(connection) as many:
        response = client.get(calls_url(tenant_a))
    assert len(response.context["page"].calls) == 30
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_empty_state_explains_how_to_place_a_test_call(client_for, tenant_a):
    html = client_for(tenant_a.operator).get(calls_url(tenant_a)).content.decode()
    assert "No calls yet" in html and "place a test call" in html
    assert reverse("simulator", args=[tenant_a.business.slug]) not in html


def test_empty_state_offers_the_simulator_to_owners(client_for, tenant_a):
    PhoneNumberFactory(business=tenant_a.business, provider="simulator")
    html = client_for(tenant_a.owner).get(calls_url(tenant_a)).content.decode()
    assert reverse("simulator", args=[tenant_a.business.slug]) in html
    html = client_for(tenant_a.operator).get(calls_url(tenant_a)).content.decode()
    assert reverse("simulator", args=[tenant_a.business.slug]) not in html

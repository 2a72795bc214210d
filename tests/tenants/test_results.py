"""The results dashboard: every figure against the hand-built fortnight in tests/tenants/results_data.py.

The week under test (Mon 2026-02-02 to Sun 2026-02-08, New York time) holds, for tenant A:
- missed calls: conv1 (Mon 09:15, no answer), conv2 (Mon 09:40, busy), conv3 (Wed 22:05, after hours), a spam
  call (Sat 13:00, no answer, not texted), conv4 (Sun 23:30, no answer, text still queued) = 5. Not counted: an
  answered call, a call on Mon Feb 9 00:30, the escalation test caller.
- text-backs accepted 2, 4 and 10 s after the missed call: p50 = 4 s; p95 = 4 + 0.9 * (10 - 4) = 9.4 s
  (percentile_cont interpolates at 0.95 * (3 - 1) = 1.9).
- conversations texted: conv1, conv2, conv3 = 3; replied after the text: conv1, conv2 = 2 (conv3's text came
  before it); intake links 3, submitted 1; booked among them 1 (conv1).
- booked jobs: conv1 ($250) and conv5 (started by a text, $100) = 2, $350; the test run ($999) and a lead
  tagged "test" ($500) are left out.
- first human response: 120, 600 and 300 s: median 300 s.
- opt-outs: conv2's caller (twice, counted once) and a carrier block for conv3's caller = 2 of 3 numbers texted.
The week before: missed prev1 and prev2 (Sun Feb 1 23:59 local, 04:59 UTC on the Monday) = 2, latencies 6 and
8 s (p50 7, p95 7.9), texted 2, replied 1, links 2, submitted 0, booked 1 ($80), no first responses, no opt-outs.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tenants.models import Membership
from tenants.selectors_results import Period, PeriodError, period_from_query, results_for
from tests.factories import PhoneNumberFactory
from tests.tenancy import assert_guarded
from tests.tenants.results_data import NY, WEEK, build_other_business, build_week

pytestmark = pytest.mark.django_db


@pytest.fixture
def fortnight(tenant_a, tenant_b):
    rows = build_week(tenant_a.business)
    build_other_business(tenant_b.business)
    return rows


def week() -> Period:
    return Period(first=dt.date(2026, 2, 2), last=dt.date(2026, 2, 8), tz=NY)


def test_figures_match_the_hand_computed_week(fortnight, tenant_a):
    results = results_for(business=tenant_a.business, period=week())
    now = results.current
    assert now.missed == 5
    assert now.latency_p50 == pytest.approx(4.0)
    assert now.latency_p95 == pytest.approx(9.4)
    assert now.texted == 3
    assert now.replied == 2
    assert now.reply_rate == pytest.approx(2 / 3)
    assert (now.links_sent, now.intake_submitted) == (3, 1)
    assert now.intake_rate == pytest.approx(1 / 3)
    assert now.texted_booked == 1
    assert now.booked == 2
    assert now.revenue == Decimal("350.00")
    assert now.first_response_median == pytest.approx(300.0)
    assert (now.numbers_texted, now.opted_out) == (3, 2)
    assert now.opt_out_rate == pytest.approx(2 / 3)

    assert [(bar.label, bar.value) for bar in results.funnel] == [
        ("Missed calls", 5),
        ("Texted back", 3),
        ("Replied", 2),
        ("Intake form sent in", 1),
        ("Booked", 1),
    ]
    assert [(bar.label, bar.value) for bar in results.by_reason] == [
        ("No answer", 3),
        ("After hours", 1),
        ("Line busy", 1),
    ]
    # hours and weekdays on the business's clock: Wednesday 22:05 is Thursday 03:05 in UTC
    assert {bar.label: bar.value for bar in results.by_hour if bar.value} == {"09": 2, "13": 1, "22": 1, "23": 1}
    assert [bar.value for bar in results.by_weekday] == [2, 0, 1, 0, 0, 1, 1]
    assert results.by_reason[0].fraction == 1.0 and results.by_reason[1].fraction == pytest.approx(1 / 3)


def test_previous_period_is_the_same_length_just_before(fortnight, tenant_a):
    results = results_for(business=tenant_a.business, period=week())
    assert (results.previous_period.first, results.previous_period.last) == (dt.date(2026, 1, 26), dt.date(2026, 2, 1))
    before = results.previous
    assert before.missed == 2
    assert before.latency_p50 == pytest.approx(7.0)
    assert before.latency_p95 == pytest.approx(7.9)
    assert (before.texted, before.replied, before.links_sent, before.intake_submitted) == (2, 1, 2, 0)
    assert (before.booked, before.texted_booked, before.revenue) == (1, 1, Decimal("80.00"))
    assert before.first_response_median is None
    assert (before.numbers_texted, before.opted_out, before.opt_out_rate) == (2, 0, 0.0)


def test_another_business_is_never_counted(fortnight, tenant_b):
    """Tenant B's own week counts only its own rows (three busy calls, $3,000 booked)."""
    results = results_for(business=tenant_b.business, period=week())
    now = results.current
    assert (now.missed, now.texted, now.replied, now.intake_submitted, now.booked) == (3, 3, 3, 3, 3)
    assert now.revenue == Decimal("3000.00")
    assert now.latency_p50 == pytest.approx(30.0)
    assert (now.numbers_texted, now.opted_out) == (3, 3)
    assert results.previous.missed == 0


def test_an_empty_business_has_no_rates_rather_than_zero_division(tenant_a):
    results = results_for(business=tenant_a.business, period=week())
    assert results.current.missed == 0
    assert results.current.reply_rate is None and results.current.latency_p50 is None
    assert results.current.revenue == Decimal("0.00")


def test_dashboard_page_shows_figures_charts_and_tables(fortnight, tenant_a, client_for):
    response = client_for(tenant_a.owner).get(reverse("dashboard", args=["acme"]), WEEK)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Feb 2, 2026 \u2013 Feb 8, 2026, compared with Jan 26 \u2013 Feb 1, 2026" in page
    assert "$350.00" in page and "+$270.00" in page  # revenue against $80 the week before
    assert "4.0 s" in page and "9.4 s" in page and "5.0 min" in page  # latencies, first response median
    assert "67%" in page  # reply rate 2 of 3 (and opt-out rate)
    assert "+3 (+150%)" in page  # missed calls: 5 against 2
    assert page.count("<svg") == 4 and "<script" not in page.split("<main", 1)[-1].split("</main>")[0]
    assert '<th scope="row">Intake form sent in</th><td>1</td><td>20%</td>' in page
    assert "export/conversations.csv?from=2026-02-02&amp;to=2026-02-08" in page
    assert "Bolt" not in page and "$3,000" not in page


def test_presets_and_custom_ranges(tenant_a, client_for):
    client = client_for(tenant_a.owner)
    today = dt.datetime.now(NY).date()
    page = client.get(reverse("dashboard", args=["acme"]), {"days": "7"}).content.decode()
    assert f"{today - dt.timedelta(days=6):%b} {(today - dt.timedelta(days=6)).day}, {today.year}" in page
    assert 'aria-current="true">Last 7 days' in page
    bad = client.get(reverse("dashboard", args=["acme"]), {"from": "2026-02-10", "to": "2026-02-01"})
    assert bad.status_code == 200
    assert "The “To” date is before the “From” date." in bad.content.decode()


def test_period_parsing():
    class B:
        tz = NY

    today = dt.date(2026, 2, 8)
    assert period_from_query({}, business=B, today=today).days == 30
    assert period_from_query({"days": "90"}, business=B, today=today).first == dt.date(2025, 11, 11)
    assert period_from_query({"from": "2026-02-01"}, business=B, today=today).last == today
    for params in (
        {"days": "8"},
        {"from": "02/01/2026"},
        {"to": "2026-02-30"},
        {"from": "2025-01-01", "to": "2026-02-08"},
    ):
        with pytest.raises(PeriodError):
            period_from_query(params, business=B, today=today)


def test_dashboard_query_count_does_not_grow_with_data(tenant_a, tenant_b, client_for, django_assert_num_queries):
    client = client_for(tenant_a.owner)
    url = reverse("dashboard", args=["acme"])
    PhoneNumberFactory(business=tenant_a.business, e164="+16282010000")  # the checklist asks about numbers
    client.get(url, WEEK)  # warm the session
    with CaptureQueriesContext(connection) as empty:
        client.get(url, WEEK)
    build_week(tenant_a.business)
    with CaptureQueriesContext(connection) as full:
        assert client.get(url, WEEK).status_code == 200
    assert len(full) == len(empty)
    # the results themselves: calls, conversations, text-backs, opt-outs, reasons, hour-by-weekday
    with django_assert_num_queries(6):
        results_for(business=tenant_a.business, period=week())


def test_everyone_on_the_team_sees_the_dashboard_and_only_managers_get_export_links(tenant_a, tenant_b, client_for):
    assert_guarded(
        client_for,
        reverse("dashboard", args=["acme"]),
        own=tenant_a,
        other=tenant_b,
        allowed_roles=tuple(Membership.Role.values),
    )
    page = client_for(tenant_a.operator).get(reverse("dashboard", args=["acme"])).content.decode()
    assert "Results" in page and "export/conversations.csv" not in page

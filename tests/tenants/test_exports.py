"""CSV exports of leads and calls: the right rows for the right business, spreadsheet-safe cells, clear 400s for
bad ranges, owners and admins only, an audit entry each, and a query count that does not grow with the rows."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from compliance.models import AuditEvent
from tenants.permissions import MANAGERS
from tests.tenancy import assert_guarded
from tests.tenants.results_data import WEEK, Builder, at, build_other_business, build_week

pytestmark = pytest.mark.django_db


@pytest.fixture
def fortnight(tenant_a, tenant_b):
    rows = build_week(tenant_a.business)
    build_other_business(tenant_b.business)
    return rows


def url(kind: str, slug: str = "acme") -> str:
    return reverse(f"export_{kind}", args=[slug])


def read_csv(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="')
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff"), "Excel needs the byte order mark to read UTF-8"
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def test_conversations_export_has_the_weeks_leads_of_this_business_only(fortnight, tenant_a, client_for):
    rows = read_csv(client_for(tenant_a.owner).get(url("conversations"), WEEK))
    conv1, conv2, conv3, conv4 = (fortnight[f"conv{n}"] for n in range(1, 5))
    # conv5 (started by a text) is in too; the escalation test run, the "test"-tagged lead, the week before and
    # the other business are not
    assert [row["caller_number"] for row in rows] == [
        conv1.contact.phone,
        conv2.contact.phone,
        conv3.contact.phone,
        rows[3]["caller_number"],
        conv4.contact.phone,
    ]
    assert all(row["caller_number"].startswith("+1415555") for row in rows)
    first = rows[0]
    assert first["conversation_id"] == str(conv1.pk)
    assert first["created"] == "2026-02-02T09:15:00-05:00"
    assert (first["name"], first["zip"], first["status"], first["priority"]) == (
        "Dana Reyes",
        "94110",
        "booked",
        "normal",
    )
    assert (first["first_response_seconds"], first["booked_value"]) == ("120", "250.00")
    assert first["intake_submitted"] == "2026-02-02T09:30:00-05:00"
    assert (first["urgency"], first["description"]) == ("today", "Leak under the sink")
    assert first["last_inbound"] == "" and first["lost_reason"] == ""
    second = rows[1]
    assert (second["status"], second["lost_reason"], second["first_response_seconds"]) == ("lost", "price", "600")
    assert second["intake_link_sent"] and not second["intake_submitted"] and not second["service_type"]


def test_cells_that_would_run_as_formulas_are_escaped(fortnight, tenant_a, client_for):
    first = read_csv(client_for(tenant_a.admin).get(url("conversations"), WEEK))[0]
    assert first["service_type"] == '\'=HYPERLINK("http://evil.test")'
    assert first["callback_window"] == "'@after 5pm"
    assert first["tags"] == "'-vip; Kitchen"
    assert first["caller_number"].startswith("+1415")  # a phone number is a number, not a formula


def test_calls_export_has_every_call_of_the_week(fortnight, tenant_a, client_for):
    rows = read_csv(client_for(tenant_a.owner).get(url("calls"), WEEK))
    # five missed, one answered, the escalation-test caller's call; not Monday Feb 9 00:30, not the other business
    assert [row["started"][:16] for row in rows] == [
        "2026-02-02T09:15",
        "2026-02-02T09:40",
        "2026-02-03T10:00",
        "2026-02-03T12:00",
        "2026-02-04T22:05",
        "2026-02-07T13:00",
        "2026-02-08T23:30",
    ]
    first = rows[0]
    assert (first["status"], first["missed_reason"], first["decision"]) == ("missed", "no_answer", "texted")
    assert (first["textback_status"], first["textback_sent"]) == ("sent", "2026-02-02T09:15:22-05:00")
    assert first["conversation_id"] == str(fortnight["conv1"].pk)
    assert first["business_number"] == "+16282010000"
    assert rows[5]["decision"] == "spam" and rows[5]["textback_status"] == ""
    assert rows[6]["textback_status"] == "queued" and rows[6]["textback_sent"] == ""


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-02-31", "to": "2026-03-01"}, "is not a date like 2026-03-31"),
        ({"from": "yesterday"}, "is not a date like 2026-03-31"),
        ({"from": "2026-02-08", "to": "2026-02-02"}, "before the “From” date"),
        ({"from": "2025-01-01", "to": "2026-02-08"}, "at most 366 days"),
        ({"to": "9999-12-31"}, "between 2000 and 2100"),
        ({"from": "0001-01-01", "to": "0001-01-05"}, "between 2000 and 2100"),
        ({"days": "²"}, "custom range"),
    ],
)
@pytest.mark.parametrize("kind", ["conversations", "calls"])
def test_bad_ranges_are_a_clear_400(tenant_a, client_for, kind, params, message):
    response = client_for(tenant_a.owner).get(url(kind), params)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not AuditEvent.objects.filter(action__startswith="export.").exists()


@pytest.mark.parametrize("kind", ["conversations", "calls"])
def test_only_owners_and_admins_of_this_business(tenant_a, tenant_b, client_for, kind):
    assert_guarded(client_for, url(kind), own=tenant_a, other=tenant_b, allowed_roles=MANAGERS)


def test_every_export_is_audited(tenant_a, client_for):
    client = client_for(tenant_a.owner)
    read_csv(client.get(url("conversations"), WEEK))
    read_csv(client.get(url("calls"), {"from": "2026-01-01"}))
    events = list(AuditEvent.objects.filter(business=tenant_a.business).order_by("id"))
    assert [(e.action, e.actor, e.detail["date_from"], e.detail["date_to"]) for e in events] == [
        ("export.conversations", tenant_a.owner, "2026-02-02", "2026-02-08"),
        ("export.calls", tenant_a.owner, "2026-01-01", events[1].detail["date_to"]),
    ]


@pytest.mark.parametrize("kind", ["conversations", "calls"])
def test_query_count_does_not_grow_with_rows(tenant_a, client_for, kind):
    client = client_for(tenant_a.owner)
    client.get(reverse("dashboard", args=["acme"]))  # warm the session

    def count() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            rows = read_csv(client.get(url(kind), WEEK))
        return len(queries), len(rows)

    build_week(tenant_a.business)
    few_queries, few_rows = count()
    more = Builder(tenant_a.business, "201", first_caller=100)
    for hour in range(8, 20):
        conversation = more.conversation(created=at(5, hour, 30))
        more.missed_call(started=at(5, hour, 30), conversation=conversation, textback_after=3)
        more.intake_link(conversation, submitted=at(5, hour, 40), service_type="Leak")
        more.tag(conversation, f"tag {hour}")
    many_queries, many_rows = count()
    assert many_rows == few_rows + 12
    assert many_queries == few_queries

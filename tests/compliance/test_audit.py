"""The audit log page and its CSV exports: who may see them, what they show, and only this business's rows."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from compliance.models import AuditEvent
from compliance.services import audit
from messaging.models import Message
from tenants.permissions import MANAGERS
from tests.factories import UserFactory
from tests.numbers import CALLER, NUMBER_A
from tests.tenancy import assert_guarded

pytestmark = pytest.mark.django_db


def url(name: str, tenant) -> str:
    return reverse(name, args=[tenant.business.slug])


def rows_of(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def at(event: AuditEvent, when: dt.datetime) -> None:
    AuditEvent.objects.filter(pk=event.pk).update(created_at=when)


@pytest.mark.parametrize("name", ["settings_audit", "settings_audit_export", "settings_audit_messages_export"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_audit_urls_are_guarded(tenant_a, tenant_b, client_for, name, method):
    assert_guarded(client_for, url(name, tenant_a), own=tenant_a, other=tenant_b, allowed_roles=MANAGERS, method=method)


def test_page_lists_newest_first_with_who_what_and_local_time(tenant_a, tenant_b, client_for):
    business = tenant_a.business  # America/New_York
    audit(business=business, action="settings.retention", actor=tenant_a.owner, target_type="x", before=None, after=90)
    audit(
        business=business, action="consent.opt_out", target_type="compliance.consentevent", target_id=7, matched="STOP"
    )
    audit(business=tenant_b.business, action="consent.opt_in", target_type="x", secret="other business")
    first, second = AuditEvent.objects.filter(business=business).order_by("id")
    at(first, dt.datetime(2026, 1, 15, 17, 0, tzinfo=dt.UTC))  # 12:00 in New York
    at(second, dt.datetime(2026, 1, 16, 17, 30, tzinfo=dt.UTC))

    response = client_for(tenant_a.admin).get(url("settings_audit", tenant_a))
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [r.action for r in rows] == ["Caller opted out", "Retention period changed"]
    assert rows[0].who == "System" and rows[1].who == tenant_a.owner.display_name
    assert rows[0].target == "consentevent 7" and rows[0].summary == "matched: STOP"
    assert rows[1].summary == "after: 90"
    html = response.content.decode()
    assert "Fri 16 Jan 2026, 12:30 p.m." in html and "Thu 15 Jan 2026, 12:00 p.m." in html
    assert "other business" not in html and "opted back in" not in html


def test_filter_by_action_prefix_and_local_date_range(tenant_a, client_for):
    business = tenant_a.business
    for action, when in [
        ("consent.opt_out", dt.datetime(2026, 3, 1, 4, 59, tzinfo=dt.UTC)),  # 23:59 on 29 Feb... 28 Feb in NY
        ("consent.opt_in", dt.datetime(2026, 3, 1, 5, 0, tzinfo=dt.UTC)),  # 00:00 on 1 March in NY
        ("contact.erase", dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)),
        ("consent.opt_out", dt.datetime(2026, 3, 3, 5, 0, tzinfo=dt.UTC)),  # 00:00 on 3 March: after the range
    ]:
        audit(business=business, action=action, target_type="x")
        at(AuditEvent.objects.latest("id"), when)
    client = client_for(tenant_a.owner)

    response = client.get(url("settings_audit", tenant_a), {"date_from": "2026-03-01", "date_to": "2026-03-02"})
    assert [r.action_code for r in response.context["rows"]] == ["contact.erase", "consent.opt_in"]
    response = client.get(url("settings_audit", tenant_a), {"action": "consent."})
    assert [r.action_code for r in response.context["rows"]] == ["consent.opt_out", "consent.opt_in", "consent.opt_out"]
    response = client.get(url("settings_audit", tenant_a), {"date_from": "2026-03-05", "date_to": "2026-03-01"})
    assert "after the “To” date" in response.content.decode()


def test_pages_of_fifty_newest_first(tenant_a, client_for):
    base = timezone.now()
    AuditEvent.objects.bulk_create(
        AuditEvent(business=tenant_a.business, action="message.automated", target_id=str(i)) for i in range(60)
    )
    for event in AuditEvent.objects.all():
        at(event, base - dt.timedelta(minutes=int(event.target_id) // 2))  # pairs share a timestamp
    client = client_for(tenant_a.owner)
    first = client.get(url("settings_audit", tenant_a))
    page1 = [r.target for r in first.context["rows"]]
    assert len(page1) == 50 and first.context["next_query"]
    second = client.get(url("settings_audit", tenant_a) + "?" + first.context["next_query"])
    page2 = [r.target for r in second.context["rows"]]
    assert len(page2) == 10 and second.context["next_query"] is None
    assert sorted(page1 + page2) == sorted(f"{i}" for i in range(60))  # nothing skipped or repeated
    assert client.get(url("settings_audit", tenant_a), {"before": "junk"}).status_code == 200


def test_audit_page_query_count_is_constant(tenant_a, client_for):
    client = client_for(tenant_a.owner)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url("settings_audit", tenant_a)).status_code == 200
        return len(ctx)

    audit(business=tenant_a.business, action="consent.opt_out", actor=tenant_a.admin, target_type="x")
    few = queries()
    for _ in range(40):
        audit(business=tenant_a.business, action="consent.opt_in", actor=UserFactory(), target_type="x")
    assert queries() == few


def test_audit_csv_has_every_column_and_only_this_business(tenant_a, tenant_b, client_for):
    audit(
        business=tenant_a.business,
        action="consent.review_restore",
        actor=tenant_a.owner,
        target_type="t",
        target_id=5,
        reason='=HYPERLINK("x")',
        number="+14155550100",
    )
    audit(business=tenant_b.business, action="consent.opt_out", target_type="t", reason="bolt only")
    event = AuditEvent.objects.get(business=tenant_a.business)
    at(event, dt.datetime(2026, 7, 4, 16, 0, tzinfo=dt.UTC))

    response = client_for(tenant_a.admin).get(url("settings_audit_export", tenant_a))
    assert response["Content-Type"].startswith("text/csv")
    assert 'attachment; filename="audit-acme-' in response["Content-Disposition"]
    [row] = rows_of(response)
    assert row["time"] == "2026-07-04T12:00:00-04:00" and row["time_utc"] == "2026-07-04T16:00:00+00:00"
    assert row["actor_email"] == tenant_a.owner.email
    assert row["action"] == "consent.review_restore"
    assert row["action_description"] == "Opt-out reversed after review"
    assert (row["target_type"], row["target_id"]) == ("t", "5")
    assert '"number": "+14155550100"' in row["detail"] and "bolt only" not in row["detail"]


def test_csv_cells_never_start_a_formula_but_numbers_stay_numbers():
    from compliance.views_privacy import csv_safe

    assert csv_safe('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert csv_safe("@SUM(A1)") == "'@SUM(A1)" and csv_safe("+cmd|' /C calc'!A0") == "'+cmd|' /C calc'!A0"
    assert csv_safe("+14155550100") == "+14155550100" and csv_safe("-3.5") == "-3.5"
    assert csv_safe(None) == "" and csv_safe(42) == "42"


def test_audit_csv_follows_the_filters(tenant_a, client_for):
    audit(business=tenant_a.business, action="consent.opt_out", target_type="x")
    audit(business=tenant_a.business, action="contact.erase", target_type="x")
    response = client_for(tenant_a.owner).get(url("settings_audit_export", tenant_a), {"action": "contact."})
    assert [r["action"] for r in rows_of(response)] == ["contact.erase"]


def test_automated_messages_csv_lists_outbound_with_their_trigger(tenant_a, tenant_b, number_a, client_for):
    common = {"from_number": NUMBER_A, "provider": "twilio", "phone_number": number_a}
    Message.objects.create(
        business=tenant_a.business,
        direction="out",
        kind="textback",
        to_number=CALLER,
        body="Sorry we missed you",
        status="delivered",
        trigger="rule",
        trigger_detail="missed_call:CA123",
        **common,
    )
    Message.objects.create(
        business=tenant_a.business,
        direction="out",
        kind="reply",
        to_number=CALLER,
        body="On our way",
        status="sent",
        trigger="user",
        sent_by=tenant_a.operator,
        **common,
    )
    Message.objects.create(
        business=tenant_a.business,
        direction="in",
        kind="inbound",
        to_number=NUMBER_A,
        body="hi",
        status="received",
        from_number=CALLER,
        provider="twilio",
    )
    Message.objects.create(
        business=tenant_b.business,
        direction="out",
        kind="textback",
        to_number=CALLER,
        from_number="+16505550123",
        body="bolt",
        status="sent",
        provider="twilio",
        trigger_detail="missed_call:CAB",
    )

    rows = rows_of(client_for(tenant_a.owner).get(url("settings_audit_messages_export", tenant_a)))
    assert [(r["kind"], r["trigger"], r["trigger_detail"], r["to"], r["status"]) for r in rows] == [
        ("textback", "rule", "missed_call:CA123", CALLER, "delivered"),
        ("reply", "user", "", CALLER, "sent"),
    ]
    assert rows[1]["sent_by"] == tenant_a.operator.email and rows[0]["created"]

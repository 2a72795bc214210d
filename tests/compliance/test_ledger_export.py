"""The consent ledger export: per business and per number, every event with its source, never another
business's events, erased numbers still listed by hash."""

import csv
import io

import pytest
from django.urls import reverse

from compliance.models import ConsentEvent
from compliance.services import consent_record
from messaging.models import Message
from tests.factories import CallFactory
from tests.numbers import CALLER, NUMBER_A
from tests.tenancy import assert_guarded

pytestmark = pytest.mark.django_db

OTHER_CALLER = "+12125550199"


def rows(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def csv_url(business, number: str | None = None) -> str:
    url = reverse("compliance_ledger_csv", args=[business.slug])
    return url if number is None else f"{url}?number={number}"


@pytest.fixture
def history(number_a, tenant_a):
    """One caller's whole story with tenant A: a missed call, STOP, HELP, START, plus another caller's call."""
    business = tenant_a.business
    call = CallFactory(phone_number=number_a, caller=CALLER)
    stop = Message.objects.create(
        business=business,
        phone_number=number_a,
        direction="in",
        kind="inbound",
        from_number=CALLER,
        to_number=NUMBER_A,
        body="STOP",
        provider="twilio",
        provider_message_id="SM" + "a" * 32,
    )
    events = [
        consent_record(
            business=business,
            phone=CALLER,
            kind=ConsentEvent.Kind.IMPLIED_BY_CALL,
            source_ref=call.provider_call_id,
            call=call,
        ),
        consent_record(
            business=business,
            phone=CALLER,
            kind=ConsentEvent.Kind.OPT_OUT,
            source_ref=stop.provider_message_id,
            message=stop,
            raw_text="STOP",
            matched="stop",
        ),
        consent_record(
            business=business, phone=CALLER, kind=ConsentEvent.Kind.HELP, source_ref="SM" + "b" * 32, raw_text="help"
        ),
        consent_record(
            business=business,
            phone=CALLER,
            kind=ConsentEvent.Kind.OPT_IN,
            source_ref="SM" + "c" * 32,
            raw_text="Start",
            matched="start",
        ),
    ]
    consent_record(business=business, phone=OTHER_CALLER, kind=ConsentEvent.Kind.IMPLIED_BY_CALL, source_ref="CA1")
    return call, stop, events


def test_ledger_urls_are_guarded(tenant_a, tenant_b, client_for):
    managers = ("owner", "admin")
    for url in (
        csv_url(tenant_a.business),
        csv_url(tenant_a.business, "%2B14158675309"),
        reverse("compliance_ledger", args=[tenant_a.business.slug]),
    ):
        assert_guarded(client_for, url, own=tenant_a, other=tenant_b, allowed_roles=managers)
        # read-only pages refuse POST for those allowed, and still guard everyone else the same way
        response = client_for(tenant_a.owner).post(url)
        assert response.status_code == 405


def test_number_export_lists_every_event_with_its_source(history, tenant_a, tenant_b, client_for):
    call, stop, _ = history
    # the other business has its own story with the same caller: never part of A's export
    consent_record(
        business=tenant_b.business, phone=CALLER, kind=ConsentEvent.Kind.OPT_OUT, raw_text="stop bolt", source_ref="X"
    )
    exported = rows(client_for(tenant_a.admin).get(csv_url(tenant_a.business, "(415) 867-5309")))

    assert [r["kind"] for r in exported] == ["implied_by_call", "opt_out", "help", "opt_in"]
    implied, opt_out, help_, opt_in = exported
    assert implied["call_id"] == call.provider_call_id and implied["source_ref"] == call.provider_call_id
    assert opt_out["message_id"] == stop.provider_message_id and opt_out["source_ref"] == stop.provider_message_id
    assert opt_out["raw_text"] == "STOP" and opt_out["matched"] == "stop"
    assert help_["source_ref"] == "SM" + "b" * 32 and help_["raw_text"] == "help"
    assert opt_in["source_ref"] == "SM" + "c" * 32 and opt_in["matched"] == "start"
    assert all(r["number"] == CALLER for r in exported)
    assert all(r["time_utc"].endswith("+00:00") for r in exported)
    assert "stop bolt" not in str(exported)


def test_business_export_has_all_its_events_and_no_one_elses(history, tenant_a, tenant_b, client_for):
    consent_record(business=tenant_b.business, phone=CALLER, kind=ConsentEvent.Kind.OPT_OUT, raw_text="stop bolt")
    exported = rows(client_for(tenant_a.owner).get(csv_url(tenant_a.business)))
    assert len(exported) == 5
    assert {r["number"] for r in exported} == {CALLER, OTHER_CALLER}
    assert "stop bolt" not in str(exported)
    assert list(exported[0]) == [
        "time_utc",
        "number",
        "number_hash",
        "kind",
        "source_ref",
        "call_id",
        "message_id",
        "raw_text",
        "matched",
        "disclosure_text",
        "actor_email",
        "note",
        "review",
        "reviewed_by",
        "reviewed_at_utc",
        "review_reason",
    ]

    other = rows(client_for(tenant_b.owner).get(csv_url(tenant_b.business)))
    assert [r["raw_text"] for r in other] == ["stop bolt"]


def test_erased_numbers_are_still_listed_by_hash(history, tenant_a, client_for):
    ConsentEvent.objects.filter(business=tenant_a.business, phone=CALLER).update(phone="", raw_text="")
    exported = rows(client_for(tenant_a.owner).get(csv_url(tenant_a.business, "+14158675309")))
    assert [r["kind"] for r in exported] == ["implied_by_call", "opt_out", "help", "opt_in"]
    assert all(r["number"] == "" and r["number_hash"] for r in exported)


def test_invalid_number_is_a_clear_400(tenant_a, client_for):
    response = client_for(tenant_a.owner).get(csv_url(tenant_a.business, "12345"))
    assert response.status_code == 400
    assert "not a valid phone number" in response.content.decode()


def test_ledger_page_shows_a_numbers_events_and_links_the_csv(history, tenant_a, client_for):
    call, _, _ = history
    url = reverse("compliance_ledger", args=[tenant_a.business.slug])
    page = client_for(tenant_a.owner).get(url, {"number": "415-867-5309"}).content.decode()
    assert call.provider_call_id in page and "SM" + "a" * 32 in page
    assert "Opted out" in page and "Opted back in" in page and "Asked for help" in page
    assert csv_url(tenant_a.business) in page and "number=%2B14158675309" in page
    assert OTHER_CALLER not in page

    bad = client_for(tenant_a.owner).get(url, {"number": "nope"})
    assert bad.status_code == 200 and "is not a phone number" in bad.content.decode()

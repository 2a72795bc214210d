"""Operator review of natural-language opt-outs: confirm keeps the number opted out, restore flips it back with
the reason on the ledger and in the audit log, and an event is reviewed once."""

import pytest
from django.urls import reverse

from compliance.models import AuditEvent, ConsentEvent
from compliance.services import consent_record, consent_state
from inbox.models import Contact
from tests.numbers import CALLER
from tests.tenancy import assert_guarded

pytestmark = pytest.mark.django_db


def natural_opt_out(business, *, phone=CALLER, text="please stop texting me") -> ConsentEvent:
    return consent_record(
        business=business,
        phone=phone,
        kind=ConsentEvent.Kind.OPT_OUT,
        source_ref="SM" + "1" * 32,
        raw_text=text,
        matched="stop texting me",
        review=ConsentEvent.Review.PENDING,
    )


def decide_url(business, event) -> str:
    return reverse("compliance_review_decide", args=[business.slug, event.pk])


def test_review_pages_are_guarded(tenant_a, tenant_b, client_for):
    event = natural_opt_out(tenant_a.business)
    everyone = ("owner", "admin", "operator")
    assert_guarded(
        client_for,
        reverse("compliance_review", args=[tenant_a.business.slug]),
        own=tenant_a,
        other=tenant_b,
        allowed_roles=everyone,
    )
    assert_guarded(
        client_for,
        decide_url(tenant_a.business, event),
        own=tenant_a,
        other=tenant_b,
        allowed_roles=everyone,
        method="post",
        data={"outcome": "confirm"},
    )


def test_queue_lists_pending_opt_outs_of_this_business_only(tenant_a, tenant_b, client_for):
    natural_opt_out(tenant_a.business, text="no more texts please")
    natural_opt_out(tenant_b.business, text="leave me alone, bolt")
    response = client_for(tenant_a.operator).get(reverse("compliance_review", args=[tenant_a.business.slug]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "no more texts please" in page and "stop texting me" in page
    assert "leave me alone, bolt" not in page
    assert "Confirm opt-out" in page and "csrfmiddlewaretoken" in page


def test_restore_flips_the_contact_back_and_records_why(tenant_a, client_for):
    business = tenant_a.business
    Contact.objects.create(business=business, phone=CALLER)
    event = natural_opt_out(business, text="can you stop by tomorrow")
    assert Contact.objects.get(business=business, phone=CALLER).opted_out is True

    client = client_for(tenant_a.operator)
    response = client.post(
        decide_url(business, event), {"outcome": "restore", "reason": "Asked us to stop by, not to stop texting"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("compliance_review", args=[business.slug])

    event.refresh_from_db()
    assert event.review == ConsentEvent.Review.RESTORED
    assert event.reviewed_by == tenant_a.operator and event.reviewed_at is not None
    assert event.review_reason == "Asked us to stop by, not to stop texting"
    assert Contact.objects.get(business=business, phone=CALLER).opted_out is False
    assert consent_state(business=business, phone=CALLER) == "ok"
    restore = ConsentEvent.objects.get(business=business, kind=ConsentEvent.Kind.OPERATOR_RESTORE)
    assert restore.actor == tenant_a.operator and "stop by" in restore.note and restore.phone == CALLER
    audit = AuditEvent.objects.get(business=business, action="consent.review_restore")
    assert audit.actor == tenant_a.operator and audit.target_id == str(event.pk)
    assert audit.detail["reason"] == "Asked us to stop by, not to stop texting"

    followed = client.get(response["Location"])
    assert "can be texted again" in followed.content.decode()


def test_restore_needs_a_reason(tenant_a, client_for):
    business = tenant_a.business
    Contact.objects.create(business=business, phone=CALLER)
    event = natural_opt_out(business)
    client = client_for(tenant_a.admin)
    response = client.post(decide_url(business, event), {"outcome": "restore", "reason": "  "})
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.review == ConsentEvent.Review.PENDING
    assert Contact.objects.get(business=business, phone=CALLER).opted_out is True
    assert not ConsentEvent.objects.filter(kind=ConsentEvent.Kind.OPERATOR_RESTORE).exists()
    page = client.get(response["Location"]).content.decode()
    assert "Say why this was not an opt-out" in page


def test_confirm_keeps_the_number_opted_out(tenant_a, client_for):
    business = tenant_a.business
    Contact.objects.create(business=business, phone=CALLER)
    event = natural_opt_out(business)
    response = client_for(tenant_a.operator).post(decide_url(business, event), {"outcome": "confirm"})
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.review == ConsentEvent.Review.CONFIRMED and event.reviewed_by == tenant_a.operator
    assert event.review_reason == ""
    assert Contact.objects.get(business=business, phone=CALLER).opted_out is True
    assert consent_state(business=business, phone=CALLER) == "opted_out"
    assert not ConsentEvent.objects.filter(kind=ConsentEvent.Kind.OPERATOR_RESTORE).exists()
    assert AuditEvent.objects.filter(business=business, action="consent.review_confirm").count() == 1


def test_an_event_is_reviewed_only_once(tenant_a, client_for):
    business = tenant_a.business
    Contact.objects.create(business=business, phone=CALLER)
    event = natural_opt_out(business)
    client = client_for(tenant_a.operator)
    client.post(decide_url(business, event), {"outcome": "confirm"})

    response = client.post(decide_url(business, event), {"outcome": "restore", "reason": "changed my mind"})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "already reviewed" in page
    event.refresh_from_db()
    assert event.review == ConsentEvent.Review.CONFIRMED
    assert Contact.objects.get(business=business, phone=CALLER).opted_out is True
    assert not ConsentEvent.objects.filter(kind=ConsentEvent.Kind.OPERATOR_RESTORE).exists()
    assert AuditEvent.objects.filter(business=business, action__startswith="consent.review").count() == 1


def test_restore_does_not_override_a_later_stop(tenant_a, client_for):
    business = tenant_a.business
    Contact.objects.create(business=business, phone=CALLER)
    event = natural_opt_out(business)
    consent_record(business=business, phone=CALLER, kind=ConsentEvent.Kind.OPT_OUT, raw_text="STOP", matched="stop")
    client_for(tenant_a.operator).post(decide_url(business, event), {"outcome": "restore", "reason": "misread"})
    event.refresh_from_db()
    assert event.review == ConsentEvent.Review.PENDING
    assert Contact.objects.get(business=business, phone=CALLER).opted_out is True


def test_another_business_cannot_review_this_event(tenant_a, tenant_b, client_for):
    event = natural_opt_out(tenant_a.business)
    # the other business's own URL with this business's event id: not found, nothing changes
    response = client_for(tenant_b.owner).post(decide_url(tenant_b.business, event), {"outcome": "confirm"})
    assert response.status_code == 404
    event.refresh_from_db()
    assert event.review == ConsentEvent.Review.PENDING

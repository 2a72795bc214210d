"""The compliance settings form and the A2P 10DLC / toll-free registration checklist."""

import pytest
from django.urls import reverse
from django.utils.html import escape

from compliance.inbound import OPT_OUT_CONFIRMATION, help_text
from compliance.models import AuditEvent, ComplianceSettings
from messaging.services import textback_settings_for
from telephony.models import PhoneNumber
from tests.tenancy import assert_guarded

pytestmark = pytest.mark.django_db

MANAGERS = ("owner", "admin")

VALID = {
    "legal_name": "Acme Plumbing LLC",
    "business_type": "company",
    "ein": "12-3456789",
    "address": "1 Market St, San Francisco, CA 94105",
    "website": "https://acme.example",
    "contact_email": "owner@acme.example",
    "campaign_description": "",
    "opt_in_description": "",
}


def settings_url(business) -> str:
    return reverse("compliance_settings", args=[business.slug])


def registration_url(business) -> str:
    return reverse("compliance_registration", args=[business.slug])


def test_settings_pages_are_guarded(tenant_a, tenant_b, client_for):
    assert_guarded(client_for, settings_url(tenant_a.business), own=tenant_a, other=tenant_b, allowed_roles=MANAGERS)
    assert_guarded(
        client_for,
        settings_url(tenant_a.business),
        own=tenant_a,
        other=tenant_b,
        allowed_roles=MANAGERS,
        method="post",
        data=VALID,
    )
    url = registration_url(tenant_a.business)
    assert_guarded(client_for, url, own=tenant_a, other=tenant_b, allowed_roles=MANAGERS)
    assert client_for(tenant_a.owner).post(url).status_code == 405


def test_settings_get_creates_the_row_and_explains_the_quiet_hours_choice(tenant_a, client_for):
    response = client_for(tenant_a.owner).get(settings_url(tenant_a.business))
    assert response.status_code == 200
    assert ComplianceSettings.objects.filter(business=tenant_a.business).count() == 1
    page = response.content.decode()
    assert "Hold the text-back during the caller&#x27;s quiet hours" in page
    assert "Follow-ups and reminders always wait" in page and "csrfmiddlewaretoken" in page


def test_settings_save_and_redirect(tenant_a, client_for):
    client = client_for(tenant_a.admin)
    response = client.post(settings_url(tenant_a.business), {**VALID, "textback_waits_for_quiet_hours": "on"})
    assert response.status_code == 302 and response["Location"] == settings_url(tenant_a.business)
    row = ComplianceSettings.objects.get(business=tenant_a.business)
    assert row.textback_waits_for_quiet_hours is True
    assert row.legal_name == "Acme Plumbing LLC" and row.ein == "12-3456789"
    audit = AuditEvent.objects.get(business=tenant_a.business, action="compliance.settings_update")
    assert audit.actor == tenant_a.admin and "textback_waits_for_quiet_hours" in audit.detail["fields"]
    assert "Compliance settings saved." in client.get(response["Location"]).content.decode()


@pytest.mark.parametrize(
    ("business_type", "ein", "error"),
    [
        ("company", "123456", "An EIN is nine digits"),
        ("company", "12-34567890", "An EIN is nine digits"),
        ("company", "AB-CDEFGHI", "An EIN is nine digits"),
        ("company", "", "A company registers with its EIN"),
    ],
)
def test_settings_form_validates_the_ein(tenant_a, client_for, business_type, ein, error):
    response = client_for(tenant_a.owner).post(
        settings_url(tenant_a.business), {**VALID, "business_type": business_type, "ein": ein}
    )
    assert response.status_code == 200
    assert error in response.content.decode()
    assert ComplianceSettings.objects.get(business=tenant_a.business).ein == ""


@pytest.mark.parametrize(
    ("business_type", "ein", "stored"),
    [("company", "123456789", "12-3456789"), ("company", " 12-3456789 ", "12-3456789"), ("sole_proprietor", "", "")],
)
def test_settings_form_accepts_good_eins(tenant_a, client_for, business_type, ein, stored):
    response = client_for(tenant_a.owner).post(
        settings_url(tenant_a.business), {**VALID, "business_type": business_type, "ein": ein}
    )
    assert response.status_code == 302
    assert ComplianceSettings.objects.get(business=tenant_a.business).ein == stored


def test_registration_warns_about_unregistered_numbers(number_a, tenant_a, client_for):
    registered = PhoneNumber.objects.create(
        business=tenant_a.business, e164="+14155550177", provider="twilio", a2p_registered=True
    )
    page = client_for(tenant_a.owner).get(registration_url(tenant_a.business)).content.decode()
    edit_url = reverse("settings_number_edit", args=[tenant_a.business.slug, number_a.pk])
    assert "(415) 523-8886" in page and "is not marked as registered" in page and edit_url in page
    assert reverse("settings_number_edit", args=[tenant_a.business.slug, registered.pk]) not in page


def test_registration_without_unregistered_numbers_has_no_warning(number_a, tenant_a, client_for):
    PhoneNumber.objects.filter(pk=number_a.pk).update(a2p_registered=True)
    page = client_for(tenant_a.owner).get(registration_url(tenant_a.business)).content.decode()
    assert "Numbers not marked registered" not in page


def test_registration_renders_samples_from_the_business_templates(number_a, tenant_a, client_for):
    business = tenant_a.business
    config = textback_settings_for(business)
    config.open_template = "Hi {first_name}! {business} here, we'll ring you back soon."
    config.save()
    page = client_for(tenant_a.admin).get(registration_url(business)).content.decode()
    assert "Hi Sam! Acme Plumbing here, we&#x27;ll ring you back soon. Reply STOP to opt out." in page
    assert "sorry we missed your call. We&#x27;re closed now" in page  # the default closed template
    assert escape(help_text(business)) in page
    assert escape(OPT_OUT_CONFIRMATION.format(business=business.sender_name)) in page
    assert "STOP, STOPALL, UNSUBSCRIBE" in page and "HELP, INFO" in page


def test_registration_shows_default_opt_in_and_missing_facts(tenant_a, client_for):
    page = client_for(tenant_a.owner).get(registration_url(tenant_a.business)).content.decode()
    assert (
        "The consumer calls Acme Plumbing; if the call is missed they receive one text from the business&#x27;s "
        "number about their call. They can reply STOP to opt out or HELP for help."
    ) in page
    assert "Missing" in page
    # the registration page reads; it does not create the settings row
    assert not ComplianceSettings.objects.filter(business=tenant_a.business).exists()


def test_registration_shows_the_owners_own_facts(tenant_a, client_for):
    ComplianceSettings.objects.create(
        business=tenant_a.business, **{**VALID, "opt_in_description": "Customers call us and agree on the phone."}
    )
    page = client_for(tenant_a.owner).get(registration_url(tenant_a.business)).content.decode()
    assert "Acme Plumbing LLC" in page and "12-3456789" in page
    assert "Customers call us and agree on the phone." in page
    assert "The consumer calls" not in page
    assert 'badge-warn">Missing' not in page

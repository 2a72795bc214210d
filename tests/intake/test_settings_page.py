"""The owner's intake settings page: who may use it, what a save stores, every rule, and the live preview."""

import pytest
from django.core.exceptions import ValidationError

from compliance.models import AuditEvent
from intake.models import DEFAULT_CONFIRMATION, DEFAULT_DISCLOSURE, DEFAULT_SHOWN, INTAKE_FIELDS, IntakeSettings
from intake.settings_services import intake_settings_update
from tests.tenancy import assert_guarded

URL = "/app/acme/settings/intake/"
PREVIEW_URL = URL + "preview/"
HTMX = {"HTTP_HX_REQUEST": "true"}


def valid(**overrides) -> dict:
    data = {
        "fields_shown": ["name", "service_type", "description", "zip_code", "urgency"],
        "fields_required": ["description", "zip_code"],
        "service_types": "Leak\n  Water heater  \n\nleak\nDrain\n",
        "consent_enabled": "on",
        "disclosure_text": "Yes, {business} may text me about this job. Reply STOP to opt out.",
        "confirmation_text": "We'll call you within 15 minutes during business hours.",
        "link_lifetime_days": "21",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def preview_fields(html: str) -> set[str]:
    return {key for key in INTAKE_FIELDS if f'data-preview-field="{key}"' in html}


# --- access -------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("url", [URL, PREVIEW_URL])
@pytest.mark.parametrize("method", ["get", "post"])
def test_intake_settings_are_managers_only(tenant_a, tenant_b, client_for, url, method):
    assert_guarded(
        client_for, url, own=tenant_a, other=tenant_b, allowed_roles=("owner", "admin"), method=method, data=valid()
    )


@pytest.mark.django_db
def test_other_business_cannot_write_through_its_own_slug(tenant_a, tenant_b, client_for):
    response = client_for(tenant_b.owner).post(URL, valid())
    assert response.status_code == 404
    assert not IntakeSettings.objects.exists()


# --- showing and saving -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_first_visit_shows_the_defaults_and_writes_nothing(tenant_a, client_for):
    response = client_for(tenant_a.admin).get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    for key in DEFAULT_SHOWN:
        assert f'name="fields_shown" value="{key}" id="id_shown_{key}" aria-label' in html
    assert 'id="id_required_description" aria-label="Description of the job required" checked' in html
    assert 'id="id_required_name" aria-label="Name required">' in html
    assert preview_fields(html) == set(DEFAULT_SHOWN)
    assert "I agree that Acme Plumbing may text me" in html  # the default disclosure, {business} filled in
    assert DEFAULT_CONFIRMATION.replace("'", "&#x27;") in html
    assert 'href="/app/acme/settings/intake/" aria-current="page">Intake page</a>' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert not IntakeSettings.objects.exists()


@pytest.mark.django_db
def test_owner_saves_settings_and_the_change_is_audited(tenant_a, client_for):
    client = client_for(tenant_a.owner)
    response = client.post(URL, valid())
    assert response.status_code == 302 and response["Location"] == URL

    saved = IntakeSettings.objects.get(business=tenant_a.business)
    assert saved.fields_shown == ["name", "service_type", "description", "zip_code", "urgency"]
    assert saved.fields_required == ["description", "zip_code"]
    assert saved.service_types == ["Leak", "Water heater", "Drain"]  # trimmed, blank dropped, "leak" de-duplicated
    assert saved.consent_enabled is True
    assert saved.disclosure_text == "Yes, {business} may text me about this job. Reply STOP to opt out."
    assert saved.confirmation_text == "We'll call you within 15 minutes during business hours."
    assert saved.link_lifetime_days == 21

    event = AuditEvent.objects.get(business=tenant_a.business, action="intake.settings_update")
    assert event.actor == tenant_a.owner
    assert event.target_id == str(saved.pk)
    assert "service_types" in event.detail["fields"] and "link_lifetime_days" in event.detail["fields"]

    page = client.get(URL)
    html = page.content.decode()
    assert "Intake page saved." in html
    assert "Leak\nWater heater\nDrain</textarea>" in html
    assert 'id="id_shown_photos" aria-label="Show Photos (up to 3)">' in html  # unticked now
    assert preview_fields(html) == {"name", "service_type", "description", "zip_code", "urgency"}


@pytest.mark.django_db
def test_saving_the_same_settings_again_adds_no_audit_entry(tenant_a, client_for):
    client = client_for(tenant_a.admin)
    client.post(URL, valid())
    client.post(URL, valid())
    assert AuditEvent.objects.filter(action="intake.settings_update").count() == 1


@pytest.mark.django_db
def test_consent_can_be_switched_off_and_blank_texts_mean_the_defaults(tenant_a, client_for):
    response = client_for(tenant_a.owner).post(
        URL, valid(consent_enabled=None, disclosure_text="", confirmation_text="  ")
    )
    assert response.status_code == 302
    saved = IntakeSettings.objects.get(business=tenant_a.business)
    assert (saved.consent_enabled, saved.disclosure_text, saved.confirmation_text) == (False, "", "")


# --- rules: each one a clear error on the form, and nothing saved ---------------------------------------------

RULES = [
    pytest.param(
        {"fields_shown": None, "fields_required": None}, "fields_shown", "Show at least one field", id="nothing-shown"
    ),
    pytest.param(
        {"fields_required": ["description", "photos"]},
        "fields_required",
        "A required field must also be shown: Photos (up to 3).",
        id="required-not-shown",
    ),
    pytest.param(
        {"fields_shown": ["description", "social_security_number"]},
        "fields_shown",
        "Select a valid choice. social_security_number is not one of the available choices.",
        id="unknown-field",
    ),
    pytest.param(
        {"service_types": "\n".join(f"Service {i}" for i in range(31))},
        "service_types",
        "At most 30 service types (31 given).",
        id="too-many-service-types",
    ),
    pytest.param(
        {"service_types": "Leak\n" + "x" * 61},
        "service_types",
        "Keep each service type to 60 characters",
        id="service-type-too-long",
    ),
    pytest.param(
        {"disclosure_text": "{business} may text me about this job."},
        "disclosure_text",
        "with the word STOP in capitals",
        id="disclosure-without-stop",
    ),
    pytest.param(
        {"disclosure_text": "{business} may text me. Reply stop to opt out."},
        "disclosure_text",
        "with the word STOP in capitals",
        id="disclosure-lowercase-stop",
    ),
    pytest.param(
        {"disclosure_text": "Reply STOP to opt out. " + "x" * 600},
        "disclosure_text",
        "Keep the disclosure to 600 characters",
        id="disclosure-too-long",
    ),
    pytest.param(
        {"confirmation_text": "y" * 301},
        "confirmation_text",
        "Keep the confirmation to 300 characters (301 now).",
        id="confirmation-too-long",
    ),
    pytest.param({"link_lifetime_days": "0"}, "link_lifetime_days", "Choose between 1 and 90 days.", id="lifetime-0"),
    pytest.param({"link_lifetime_days": "91"}, "link_lifetime_days", "Choose between 1 and 90 days.", id="lifetime-91"),
    pytest.param({"link_lifetime_days": "two"}, "link_lifetime_days", "Enter a whole number.", id="lifetime-nan"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("overrides", "field", "message"), RULES)
def test_each_rule_gives_a_form_error_and_saves_nothing(tenant_a, client_for, overrides, field, message):
    response = client_for(tenant_a.owner).post(URL, valid(**overrides))
    assert response.status_code == 200
    form = response.context["form"]
    assert any(message in error for error in form.errors[field]), form.errors
    html = response.content.decode()
    assert "Nothing was saved." in html
    assert not IntakeSettings.objects.exists()
    assert not AuditEvent.objects.filter(action="intake.settings_update").exists()


@pytest.mark.django_db
def test_a_failed_save_leaves_earlier_settings_untouched(tenant_a, client_for):
    client = client_for(tenant_a.owner)
    client.post(URL, valid())
    client.post(URL, valid(service_types="Only this", link_lifetime_days="500"))
    saved = IntakeSettings.objects.get(business=tenant_a.business)
    assert saved.service_types == ["Leak", "Water heater", "Drain"] and saved.link_lifetime_days == 21
    assert AuditEvent.objects.filter(action="intake.settings_update").count() == 1


@pytest.mark.django_db
def test_disclosure_without_stop_is_allowed_while_consent_is_off(tenant_a, client_for):
    response = client_for(tenant_a.owner).post(URL, valid(consent_enabled=None, disclosure_text="{business} may text."))
    assert response.status_code == 302
    assert IntakeSettings.objects.get(business=tenant_a.business).disclosure_text == "{business} may text."


@pytest.mark.django_db
def test_service_checks_the_rules_without_the_form(tenant_a):
    business, owner = tenant_a.business, tenant_a.owner
    with pytest.raises(ValidationError) as exc:
        intake_settings_update(business=business, actor=owner, fields_shown=["description", "ssn"])
    assert exc.value.message_dict["fields_shown"] == ["Unknown field: ssn."]

    # the rules apply to the settings as they would end up: making a hidden field required is refused
    intake_settings_update(business=business, actor=owner, fields_shown=["description"], fields_required=[])
    with pytest.raises(ValidationError) as exc:
        intake_settings_update(business=business, actor=owner, fields_required=["name"])
    assert "fields_required" in exc.value.message_dict
    assert IntakeSettings.objects.get(business=business).fields_required == []

    with pytest.raises(TypeError):
        intake_settings_update(business=business, actor=owner, brand_color="#000000")

    saved = intake_settings_update(
        business=business, actor=owner, service_types=[" Leak ", "LEAK", "Drain  cleaning", ""]
    )
    assert saved.service_types == ["Leak", "Drain cleaning"]
    assert saved.fields_shown == ["description"]  # not passed, kept
    assert AuditEvent.objects.filter(business=business, action="intake.settings_update").count() == 2


# --- the live preview ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_htmx_preview_shows_unsaved_input(tenant_a, client_for):
    response = client_for(tenant_a.owner).post(
        PREVIEW_URL,
        valid(
            fields_shown=["name", "description", "photos"],
            fields_required=["name"],
            service_types="Leak\nDrain",
            disclosure_text="Sure, {business} can text me. Reply STOP to opt out.",
            confirmation_text="A plumber calls you back within the hour.",
        ),
        **HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert 'id="intake-preview"' in html
    assert preview_fields(html) == {"name", "description", "photos"}  # the hidden ones are absent
    assert "Your name <span" in html and 'title="required">*</span>' in html  # required marker on the name
    assert "Tell us about the job</label>" in html  # description shown, not required: no marker
    assert "Sure, Acme Plumbing can text me. Reply STOP to opt out." in html
    assert "{business}" not in html
    assert "A plumber calls you back within the hour." in html
    assert "--brand: #1d4ed8" in html and "Acme Plumbing</span>" in html
    assert ' name="' not in html  # mock controls are never submitted with the settings form
    assert not IntakeSettings.objects.exists()


@pytest.mark.django_db
def test_preview_lists_service_types_and_hides_consent_when_off(tenant_a, client_for):
    client = client_for(tenant_a.admin)
    html = client.post(PREVIEW_URL, valid(consent_enabled=None, service_types="Leak\nWater heater"), **HTMX)
    html = html.content.decode()
    assert "<option>Leak</option><option>Water heater</option>" in html
    assert "data-preview-consent" not in html

    # invalid input still previews (the owner sees the problem before saving)
    html = client.post(PREVIEW_URL, valid(fields_shown=None, fields_required=None), **HTMX).content.decode()
    assert preview_fields(html) == set() and "the page would ask nothing" in html


@pytest.mark.django_db
def test_update_preview_button_works_without_javascript_and_saves_nothing(tenant_a, client_for):
    client = client_for(tenant_a.owner)
    response = client.post(URL, valid(fields_shown=["description", "address"], preview="1"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and "Save intake page" in html
    assert preview_fields(html) == {"description", "address"}
    assert "Yes, Acme Plumbing may text me about this job." in html
    assert 'id="id_shown_address" aria-label="Show Service address" checked' in html  # input kept in the form
    assert "Nothing was saved." not in html
    assert not IntakeSettings.objects.exists()

    # the preview URL without htmx (a plain form post) gets the whole page, too
    response = client.post(PREVIEW_URL, valid(fields_shown=["zip_code"], fields_required=[]))
    assert "<html" in response.content.decode()
    assert preview_fields(response.content.decode()) == {"zip_code"}


@pytest.mark.django_db
def test_preview_shows_the_saved_logo(tenant_a, client_for):
    from django.core.files.base import ContentFile

    business = tenant_a.business
    business.logo.save("acme.png", ContentFile(b"\x89PNG\r\n\x1a\n"), save=True)
    html = client_for(tenant_a.owner).get(URL).content.decode()
    assert f'src="{business.logo.url}" alt="Acme Plumbing logo"' in html


def test_default_disclosure_passes_its_own_rule():
    from intake.settings_services import validate_intake_settings

    values = {
        "fields_shown": ["description"],
        "fields_required": [],
        "service_types": [],
        "consent_enabled": True,
        "disclosure_text": DEFAULT_DISCLOSURE,
        "confirmation_text": "",
        "link_lifetime_days": 14,
    }
    assert validate_intake_settings(values)["disclosure_text"] == DEFAULT_DISCLOSURE

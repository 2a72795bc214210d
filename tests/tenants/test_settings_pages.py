"""The business home (onboarding checklist) and the settings pages: who may see them, profile and branding with
logo uploads checked by Pillow, and the checklist flipping as set-up data appears."""

import datetime as dt
import io
import os
import re
from pathlib import Path

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from tenants import selectors, views
from tenants.models import Business, Holiday
from tenants.selectors import onboarding_checklist
from tests.factories import BusinessHoursFactory, HolidayFactory
from tests.tenancy import assert_guarded

MANAGERS = ("owner", "admin")
EVERYONE = ("owner", "admin", "operator")
PROFILE = "/app/acme/settings/profile/"


# --- guards -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/app/acme/", EVERYONE),
        ("/app/acme/settings/", MANAGERS),
        ("/app/acme/settings/profile/", MANAGERS),
        ("/app/acme/settings/hours/", MANAGERS),
        ("/app/acme/settings/hours/holidays/", MANAGERS),
    ],
)
def test_pages_are_guarded(tenant_a, tenant_b, client_for, path, allowed, method):
    assert_guarded(client_for, path, own=tenant_a, other=tenant_b, allowed_roles=allowed, method=method)


@pytest.mark.parametrize("method", ["get", "post"])
def test_holiday_delete_is_guarded(tenant_a, tenant_b, client_for, method, monkeypatch):
    holiday = HolidayFactory(business=tenant_a.business, date=dt.date(2030, 1, 1))
    url = f"/app/acme/settings/hours/holidays/{holiday.pk}/delete/"
    # the owner's POST would delete the row before the admin's turn; deleting is tested on its own below
    monkeypatch.setattr(views, "delete_holiday", lambda **kwargs: None)
    assert_guarded(client_for, url, own=tenant_a, other=tenant_b, allowed_roles=MANAGERS, method=method)


def test_operator_cannot_delete_a_holiday(tenant_a, client_for):
    holiday = HolidayFactory(business=tenant_a.business, date=dt.date(2030, 1, 1))
    url = f"/app/acme/settings/hours/holidays/{holiday.pk}/delete/"
    assert client_for(tenant_a.operator).post(url).status_code == 403
    assert Holiday.objects.filter(pk=holiday.pk).exists()


def test_read_only_pages_refuse_post(tenant_a, client_for):
    assert client_for(tenant_a.owner).post("/app/acme/").status_code == 405
    assert client_for(tenant_a.owner).post("/app/acme/settings/").status_code == 405


# --- settings home ------------------------------------------------------------------------------------------------


def test_settings_home_has_subnav_and_sections(tenant_a, client_for):
    BusinessHoursFactory(business=tenant_a.business, weekday=0, opens=dt.time(8), closes=dt.time(12))
    html = client_for(tenant_a.admin).get("/app/acme/settings/").text
    assert '<nav class="subnav" aria-label="Settings sections">' in html
    assert '<a href="/app/acme/settings/" aria-current="page">Overview</a>' in html
    assert 'href="/app/acme/settings/profile/">Profile &amp; branding</a>' in html
    assert 'href="/app/acme/settings/hours/">Hours &amp; holidays</a>' in html
    assert 'href="/app/acme/settings/team/">Team</a>' in html
    assert "08:00\u201312:00" in html  # en dash
    assert "data-brand-preview" in html


def test_subnav_marks_the_current_section(tenant_a, client_for):
    html = client_for(tenant_a.owner).get("/app/acme/settings/hours/").text
    assert '<a href="/app/acme/settings/hours/" aria-current="page">Hours &amp; holidays</a>' in html
    assert '<a href="/app/acme/settings/">Overview</a>' in html


# --- profile and branding -----------------------------------------------------------------------------------------


def png_bytes(size=(120, 40), colour=(200, 30, 30), fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, fmt)
    return buffer.getvalue()


def upload(content: bytes, name="logo.png", content_type="image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def profile_data(**overrides) -> dict:
    return {
        "name": "Acme Plumbing & Heating",
        "display_name": "Acme",
        "timezone": "America/Chicago",
        "brand_color": "#0F766E",
        "booking_url": "https://acme.test/book",
        "help_text": "Call (555) 010-0000, 8 to 5.",
    } | overrides


def media_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_profile_page_renders_form_and_preview(tenant_a, client_for):
    html = client_for(tenant_a.owner).get(PROFILE).text
    assert 'enctype="multipart/form-data"' in html
    assert "csrfmiddlewaretoken" in html
    assert 'type="color" name="brand_color"' in html and "data-brand-input" in html
    assert 'class="brand-preview" data-brand-preview style="--brand: #1d4ed8"' in html
    assert "Appears in every text we send" in html
    assert "Sent when a caller texts HELP" in html
    assert 'accept="image/png,image/jpeg,image/webp,image/gif"' in html
    for field in ("name", "display_name", "timezone", "brand_color", "logo", "booking_url", "help_text"):
        assert f'<label for="id_{field}">' in html, field
    assert 'name="remove_logo"' not in html  # nothing to remove yet


def test_profile_saves(tenant_a, client_for):
    response = client_for(tenant_a.owner).post(PROFILE, profile_data(), follow=True)
    assert response.redirect_chain == [(PROFILE, 302)]
    assert "Profile and branding saved." in response.text
    business = Business.objects.get(pk=tenant_a.business.pk)
    assert (business.name, business.display_name, business.timezone) == (
        "Acme Plumbing & Heating",
        "Acme",
        "America/Chicago",
    )
    assert business.brand_color == "#0f766e"
    assert business.booking_url == "https://acme.test/book"
    assert business.help_text == "Call (555) 010-0000, 8 to 5."
    assert business.slug == "acme"


def test_invalid_time_zone_is_refused(tenant_a, client_for):
    response = client_for(tenant_a.owner).post(PROFILE, profile_data(timezone="Mars/Olympus_Mons"))
    assert response.status_code == 200
    assert response.context["form"].errors == {"timezone": ["Pick a time zone from the list."]}
    assert "Nothing was saved" in response.text
    business = Business.objects.get(pk=tenant_a.business.pk)
    assert (business.timezone, business.name) == ("America/New_York", "Acme Plumbing")


def test_invalid_colour_is_refused_and_the_page_keeps_the_saved_colour(tenant_a, client_for):
    response = client_for(tenant_a.owner).post(PROFILE, profile_data(brand_color="red; background: url(x)"))
    assert "brand_color" in response.context["form"].errors
    assert response.context["preview_colour"] == "#1d4ed8"
    assert Business.objects.get(pk=tenant_a.business.pk).brand_color == "#1d4ed8"


def test_a_failed_save_does_not_repaint_the_page(tenant_a, client_for):
    response = client_for(tenant_a.owner).post(PROFILE, profile_data(brand_color="#ff0000", timezone="nope"))
    assert 'style="--brand: #1d4ed8"' in response.text  # the header shows what is saved
    assert 'data-brand-preview style="--brand: #ff0000"' in response.text  # the preview shows what was chosen
    assert response.context["business"].brand_color == "#1d4ed8"


def test_small_png_is_stored(tenant_a, client_for, settings):
    content = png_bytes()
    response = client_for(tenant_a.owner).post(PROFILE, profile_data(logo=upload(content)), follow=True)
    assert "Profile and branding saved." in response.text
    business = Business.objects.get(pk=tenant_a.business.pk)
    assert business.logo.name.startswith("logos/") and business.logo.name.endswith(".png")
    with business.logo.open("rb") as stored:
        assert stored.read() == content
    with Image.open(business.logo.path) as image:
        assert (image.format, image.size) == ("PNG", (120, 40))
    assert f'<img src="{business.logo.url}" alt="Acme logo">' in response.text  # in the preview
    assert 'name="remove_logo"' in response.text


@pytest.mark.parametrize(
    ("fmt", "extension"), [("JPEG", ".jpg"), ("WEBP", ".webp"), ("GIF", ".gif")], ids=["jpeg", "webp", "gif"]
)
def test_other_allowed_formats_are_stored_under_their_real_extension(tenant_a, client_for, fmt, extension):
    client_for(tenant_a.owner).post(PROFILE, profile_data(logo=upload(png_bytes(fmt=fmt), name="logo.png")))
    business = Business.objects.get(pk=tenant_a.business.pk)
    assert business.logo.name.endswith(extension)
    with Image.open(business.logo.path) as image:
        assert image.format == fmt


def _refused(client_for, tenant, settings, file: SimpleUploadedFile, message: str):
    response = client_for(tenant.owner).post(PROFILE, profile_data(logo=file))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["logo"], errors
    assert message in errors["logo"][0]
    assert message in response.text
    business = Business.objects.get(pk=tenant.business.pk)
    assert not business.logo
    assert business.name == "Acme Plumbing"  # the rest of the form was not saved either
    assert media_files(settings) == []


def test_text_file_named_png_is_refused(tenant_a, client_for, settings):
    fake = upload(b"this is not an image, just some text\n" * 20, name="logo.png")
    _refused(client_for, tenant_a, settings, fake, "not a PNG, JPEG, WebP or GIF image")


def test_oversized_file_is_refused(tenant_a, client_for, settings):
    noise = Image.frombytes("RGB", (1000, 1000), os.urandom(3_000_000))  # does not compress
    buffer = io.BytesIO()
    noise.save(buffer, "PNG")
    assert buffer.tell() > settings.LOGO_MAX_BYTES
    _refused(client_for, tenant_a, settings, upload(buffer.getvalue()), "the logo can be at most 2 MB")


def test_byte_limit_comes_from_settings(tenant_a, client_for, settings):
    settings.LOGO_MAX_BYTES = 100
    content = png_bytes(size=(300, 300))
    assert len(content) > 100
    _refused(client_for, tenant_a, settings, upload(content), "the logo can be at most")


def test_too_many_pixels_is_refused(tenant_a, client_for, settings):
    _refused(client_for, tenant_a, settings, upload(png_bytes(size=(2001, 20))), "the logo can be at most 2000x2000")


def test_real_image_in_a_format_we_do_not_take_is_refused(tenant_a, client_for, settings):
    _refused(client_for, tenant_a, settings, upload(png_bytes(fmt="BMP")), "not a PNG, JPEG, WebP or GIF image")


def test_truncated_png_is_refused(tenant_a, client_for, settings):
    noise = Image.frombytes("RGB", (200, 200), os.urandom(120_000))
    buffer = io.BytesIO()
    noise.save(buffer, "PNG")
    content = buffer.getvalue()
    _refused(client_for, tenant_a, settings, upload(content[: len(content) // 2]), "not a PNG, JPEG, WebP or GIF")


def test_new_logo_replaces_the_old_file_after_commit(
    tenant_a, client_for, settings, django_capture_on_commit_callbacks
):
    client = client_for(tenant_a.owner)
    client.post(PROFILE, profile_data(logo=upload(png_bytes())))
    old = Business.objects.get(pk=tenant_a.business.pk).logo
    old_path = Path(old.path)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(PROFILE, profile_data(logo=upload(png_bytes(colour=(0, 0, 0)))))
    new = Business.objects.get(pk=tenant_a.business.pk).logo
    assert new.name != old.name
    assert Path(new.path).exists()
    assert not old_path.exists()


def test_remove_logo(tenant_a, client_for, settings, django_capture_on_commit_callbacks):
    client = client_for(tenant_a.owner)
    client.post(PROFILE, profile_data(logo=upload(png_bytes())))
    assert len(media_files(settings)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(PROFILE, profile_data(remove_logo="on"), follow=True)
    assert "Profile and branding saved." in response.text
    assert not Business.objects.get(pk=tenant_a.business.pk).logo
    assert media_files(settings) == []


def test_low_contrast_colour_is_saved_with_a_warning(tenant_a, client_for):
    response = client_for(tenant_a.owner).post(PROFILE, profile_data(brand_color="#ffeb3b"), follow=True)
    assert "White text is hard to read on that colour" in response.text
    assert Business.objects.get(pk=tenant_a.business.pk).brand_color == "#ffeb3b"


# --- home page and onboarding checklist ---------------------------------------------------------------------------


def make_number(business, prefix="+1555010"):
    e164 = f"{prefix}{business.pk:04d}"
    return apps.get_model("telephony", "PhoneNumber").objects.create(business=business, e164=e164)


def make_call(business):
    number = make_number(business, prefix="+1555020")
    return apps.get_model("telephony", "Call").objects.create(
        business=business,
        phone_number=number,
        provider="simulator",
        provider_call_id=f"CA-{business.slug}",
        started_at=timezone.now(),
    )


@pytest.fixture
def fresh(tenant_a):
    """tenant_a as signup leaves it: no display name, default colour, nothing set up."""
    Business.objects.filter(pk=tenant_a.business.pk).update(display_name="")
    tenant_a.business.refresh_from_db()
    return tenant_a


def done(business) -> dict[str, bool]:
    return {item.key: item.done for item in onboarding_checklist(business=Business.objects.get(pk=business.pk))}


def test_checklist_starts_empty_and_encouraging(fresh, client_for):
    response = client_for(fresh.owner).get("/app/acme/")
    assert {item.key: item.done for item in response.context["checklist"]} == {
        "number": False,
        "hours": False,
        "branding": False,
        "templates": False,
        "test_call": False,
    }
    assert "Five short steps, about ten minutes in all." in response.text
    assert 'href="/app/acme/settings/hours/"><strong>Set your opening hours</strong></a>' in response.text
    assert 'href="/app/acme/settings/profile/"><strong>Add your name, logo and colour</strong></a>' in response.text


@pytest.mark.parametrize(
    ("make", "flipped"),
    [
        (lambda b: make_number(b), {"number"}),
        (lambda b: BusinessHoursFactory(business=b), {"hours"}),
        (lambda b: Business.objects.filter(pk=b.pk).update(templates_reviewed_at=timezone.now()), {"templates"}),
        (lambda b: make_call(b), {"test_call", "number"}),  # a call needs a number
        (lambda b: Business.objects.filter(pk=b.pk).update(display_name="Acme"), {"branding"}),
        (lambda b: Business.objects.filter(pk=b.pk).update(brand_color="#0f766e"), {"branding"}),
        (lambda b: Business.objects.filter(pk=b.pk).update(logo="logos/acme.png"), {"branding"}),
    ],
    ids=["number", "hours", "templates", "test_call", "display_name", "colour", "logo"],
)
def test_checklist_item_flips_when_its_data_exists(fresh, tenant_b, make, flipped):
    keys = ("number", "hours", "branding", "templates", "test_call")
    assert done(fresh.business) == dict.fromkeys(keys, False)
    Business.objects.filter(pk=tenant_b.business.pk).update(display_name="")
    make(tenant_b.business)  # another business's set-up counts for nothing here
    assert done(fresh.business) == dict.fromkeys(keys, False)
    make(fresh.business)
    assert done(fresh.business) == {key: key in flipped for key in keys}


def test_checklist_shows_progress_and_then_all_set(fresh, client_for):
    BusinessHoursFactory(business=fresh.business)
    make_number(fresh.business)
    response = client_for(fresh.owner).get("/app/acme/")
    assert "2 of 5 done" in response.text
    assert 'data-checklist-item="hours" data-done="true"' in response.text
    assert 'data-checklist-item="branding" data-done="false"' in response.text

    Business.objects.filter(pk=fresh.business.pk).update(display_name="Acme", templates_reviewed_at=timezone.now())
    make_call(fresh.business)
    response = client_for(fresh.owner).get("/app/acme/")
    assert response.context["all_done"]
    assert "You're all set" in response.text


def test_operator_sees_a_welcome_and_a_read_only_checklist(fresh, client_for):
    BusinessHoursFactory(business=fresh.business)
    response = client_for(fresh.operator).get("/app/acme/")
    html = response.text
    assert "Good to have you on the team at <strong>Acme Plumbing</strong>" in html
    assert "1 of 5 steps done" in html
    assert 'data-checklist-item="number" data-done="false"' in html
    # no links to pages an operator cannot open: the only settings page for them is leaving (in the user menu)
    assert re.findall(r'"(/app/acme/settings/[^"]*)"', html) == ["/app/acme/settings/team/leave/"]
    assert client_for(fresh.operator).get("/app/acme/settings/team/leave/").status_code == 200


@pytest.mark.parametrize(
    ("role", "provider", "test_call_url"),
    [
        ("owner", None, "/app/acme/settings/numbers/"),
        ("owner", "twilio", "/app/acme/calls/"),
        ("owner", "simulator", "/app/acme/simulator/"),
        ("admin", None, "/app/acme/settings/numbers/"),
        ("admin", "twilio", "/app/acme/calls/"),
        # the simulator is owners only: an admin is sent where they can look at calls
        ("admin", "simulator", "/app/acme/calls/"),
    ],
)
def test_checklist_links_point_at_pages_that_load(fresh, client_for, role, provider, test_call_url):
    if provider:
        make_number(fresh.business).__class__.objects.update(provider=provider)
    client = client_for(fresh.user(role))
    items = client.get("/app/acme/").context["checklist"]
    urls = {item.key: item.url for item in items}
    assert urls["test_call"] == test_call_url
    assert urls["templates"] == "/app/acme/settings/templates/"
    for item in items:
        assert client.get(item.url).status_code == 200, item


def test_checklist_for_an_owner_links_to_the_simulator_only_with_a_simulator_number(fresh):
    number = make_number(fresh.business)
    as_owner = {item.key: item.url for item in onboarding_checklist(business=fresh.business, for_owner=True)}
    assert as_owner["test_call"] == "/app/acme/calls/"  # a Twilio number: the simulator page would 404
    number.__class__.objects.filter(pk=number.pk).update(provider="simulator")
    as_owner = {item.key: item.url for item in onboarding_checklist(business=fresh.business, for_owner=True)}
    assert as_owner["test_call"] == "/app/acme/simulator/"
    anyone = {item.key: item.url for item in onboarding_checklist(business=fresh.business)}
    assert anyone["test_call"] == "/app/acme/calls/"


def test_dashboard_links_each_role_to_a_test_call_page_it_may_open(fresh, client_for):
    make_number(fresh.business).__class__.objects.update(provider="simulator")
    owner_html = client_for(fresh.owner).get("/app/acme/").text
    assert 'href="/app/acme/simulator/"><strong>Make a test call</strong></a>' in owner_html
    admin_html = client_for(fresh.admin).get("/app/acme/").text
    assert 'href="/app/acme/calls/"><strong>Make a test call</strong></a>' in admin_html
    assert "/simulator/" not in admin_html.split('data-checklist-item="test_call"')[1].split("</li>")[0]
    assert client_for(fresh.admin).get("/app/acme/simulator/").status_code == 403


def test_reviewing_the_templates_from_the_checklist_ticks_the_item(fresh, client_for):
    client = client_for(fresh.admin)
    url = {item.key: item.url for item in client.get("/app/acme/").context["checklist"]}["templates"]
    assert url == "/app/acme/settings/templates/"
    form = client.get(url).context["form"]
    response = client.post(
        url, {name: form[name].value() for name in ("open_template", "closed_template")} | {"delay_seconds": 0}
    )
    assert response.status_code == 302
    assert done(fresh.business)["templates"] is True
    assert 'data-checklist-item="templates" data-done="true"' in client.get("/app/acme/").text


def test_checklist_works_without_the_telephony_models(fresh, client_for, monkeypatch):
    real = selectors.apps.get_model

    def missing(app_label, model_name=None, **kwargs):
        if app_label == "telephony":
            raise LookupError(f"No installed app with label '{app_label}'.")
        return real(app_label, model_name, **kwargs)

    make_number(fresh.business)
    monkeypatch.setattr(selectors.apps, "get_model", missing)
    response = client_for(fresh.owner).get("/app/acme/")
    assert response.status_code == 200
    assert {item.key: item.done for item in response.context["checklist"]}["number"] is False

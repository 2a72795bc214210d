"""The caller's page /i/<token>: branding, fields, languages, submitting, abuse limits, weight."""

import datetime as dt
import html
import re

import pytest
from django.contrib.staticfiles import finders
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from compliance.models import AuditEvent, ConsentEvent
from inbox.models import Conversation
from intake.models import DEFAULT_CONFIRMATION, DEFAULT_DISCLOSURE, IntakeLink, IntakeSubmission
from intake.services import intake_link_for, intake_settings_for
from intake.views_public import header_text_colour
from tests.intake.conftest import image_bytes, open_conversation, photo

FORM = {
    "name": "Dana Reyes",
    "service_type": "Leak",
    "description": "Water coming through the kitchen ceiling.",
    "address": "12 Main St",
    "zip_code": "94110-1234",
    "urgency": "today",
    "callback_window": "afternoon",
    "customer_type": "new",
    "consent": "on",
}


def url(link) -> str:
    return f"/i/{link.token}"


def page(client: Client, link, **headers):
    return client.get(url(link), headers=headers)


def post(client: Client, link, data: dict, query: str = "", **extra):
    """POST the form as the page built it (fingerprint of the disclosure included)."""
    body = {**data}
    if "consent" in data and "disclosure_fingerprint" not in data:
        shown = page(client, link).content.decode()
        body["disclosure_fingerprint"] = re.search(r'name="disclosure_fingerprint" value="([0-9a-f]+)"', shown)[1]
    return client.post(url(link) + query, body, **extra)


# --- what the page shows -----------------------------------------------------------------------------------------


def test_page_shows_branding_and_configured_fields(tenant_a, link_a, settings_a):
    business = tenant_a.business
    business.brand_color = "#fde047"  # light yellow: black text on it
    business.logo.save("acme.png", ContentFile(image_bytes("PNG")), save=True)
    settings_a.fields_shown = ["name", "service_type", "description", "urgency", "photos"]
    settings_a.fields_required = ["description", "urgency"]
    settings_a.save()

    response = page(Client(), link_a)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Acme Plumbing" in body
    assert "background:#fde047;color:#000000" in body
    logo = re.search(r"<img [^>]*>", body)[0]
    assert f'src="/media/{business.logo.name}"' in logo
    assert 'width="160"' in logo and 'height="48"' in logo and 'alt="Acme Plumbing logo"' in logo
    for name in ("name", "service_type", "description", "urgency", "photos"):
        assert f'name="{name}"' in body, name
    for hidden in ("address", "zip_code", "callback_window", "customer_type"):
        assert f'name="{hidden}"' not in body, hidden
    assert '<option value="Water heater">Water heater</option>' in body
    assert re.search(r'<textarea name="description"[^>]* required', body)
    assert re.search(r"<fieldset[^>]*><legend>How soon do you need us\? <span", body)
    assert 'name="phone"' not in body and "conversation" not in body  # no number, no ids: the token decides
    assert "<script" not in body
    assert 'name="csrfmiddlewaretoken"' in body
    assert html.escape(DEFAULT_DISCLOSURE.replace("{business}", "Acme Plumbing")) in body
    # the honeypot is labelled for screen readers and kept out of the tab order
    assert re.search(r'<label for="id_website">Leave this field empty</label><input type="text" name="website"', body)
    assert 'tabindex="-1"' in body


def test_service_type_is_left_out_without_a_list_and_dark_colours_get_white_text(tenant_a, link_a):
    body = page(Client(), link_a).content.decode()
    assert 'name="service_type"' not in body
    assert 'name="description"' in body
    assert "background:#1d4ed8;color:#ffffff" in body
    assert header_text_colour("#000000") == "#ffffff"
    assert header_text_colour("#ffffff") == "#000000"


def test_spanish_from_the_browser_and_from_the_switch(link_a, settings_a):
    client = Client()
    body = page(client, link_a, accept_language="es-MX,es;q=0.9,en;q=0.5").content.decode()
    assert '<html lang="es">' in body
    assert "Cuéntenos sobre su solicitud" in body
    assert "Emergencia — ahora" in body
    assert html.escape("Acepto que Acme Plumbing me envíe mensajes") in body
    assert 'href="?lang=en"' in body  # the switch back

    response = client.get(url(link_a) + "?lang=es", headers={"accept-language": "en-US,en;q=0.9"})
    assert '<html lang="es">' in response.content.decode()
    assert response["Content-Language"] == "es"
    english = page(client, link_a, accept_language="fr-FR, en;q=0.3").content.decode()
    assert '<html lang="en">' in english and "Tell us about your request" in english


def test_opened_at_is_set_on_first_visit_only(link_a):
    client = Client()
    assert link_a.opened_at is None
    page(client, link_a)
    first = IntakeLink.objects.get(pk=link_a.pk).opened_at
    assert first is not None
    page(client, link_a)
    assert IntakeLink.objects.get(pk=link_a.pk).opened_at == first


def test_no_external_urls_and_page_weight_under_30_kb(tenant_a, link_a, settings_a):
    tenant_a.business.logo.save("acme.png", ContentFile(image_bytes("PNG")), save=True)
    client = Client()
    post(client, link_a, FORM)  # the heaviest version: every field, an existing submission
    body = page(client, link_a).content
    text = body.decode()
    assert "Update my request" in text
    assert not re.search(r"(?:src|href|action)\s*=\s*[\"']?\s*(?:[a-z]+:)?//", text, re.IGNORECASE)
    assert "http://" not in text and "https://" not in text
    assert "@import" not in text
    css_path = finders.find("css/intake.css")
    with open(css_path, "rb") as css:
        css_bytes = css.read()
    assert b"url(" not in css_bytes and b"@import" not in css_bytes
    assert "/static/css/intake.css" in text
    assert len(body) + len(css_bytes) <= 30 * 1024


# --- submitting --------------------------------------------------------------------------------------------------


def test_submission_stores_every_field_and_shows_the_confirmation(tenant_a, link_a, settings_a):
    client = Client(enforce_csrf_checks=True)
    page(client, link_a)  # sets the CSRF cookie, as a browser would
    shown = page(client, link_a).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', shown)[1]
    response = post(client, link_a, {**FORM, "csrfmiddlewaretoken": token}, photos=None)
    assert response.status_code == 302
    assert response["Location"] == f"/i/{link_a.token}/done?lang=en"

    submission = IntakeSubmission.objects.get(link=link_a)
    for field, value in FORM.items():
        if field != "consent":
            assert getattr(submission, field) == value, field
    assert submission.consent_given is True
    contact = submission.conversation.contact
    assert (contact.name, contact.zip_code) == ("Dana Reyes", "94110-1234")
    event = ConsentEvent.objects.get(kind=ConsentEvent.Kind.INTAKE_CONSENT)
    assert event.disclosure_text == DEFAULT_DISCLOSURE.replace("{business}", "Acme Plumbing")
    entry = AuditEvent.objects.get(action="intake.submitted")
    assert "Dana Reyes" not in str(entry.detail)  # audit entries outlive erasure: no caller details in them

    done = client.get(response["Location"]).content.decode()
    assert "We&#x27;ll call you within 15 minutes during business hours." in done
    assert f'href="/i/{link_a.token}?lang=en"' in done  # change my answers


def test_csrf_is_enforced(link_a):
    response = Client(enforce_csrf_checks=True).post(url(link_a), {"description": "hi"})
    assert response.status_code == 403
    assert not IntakeSubmission.objects.exists()


def test_default_confirmation_and_editing_updates_the_same_submission(link_a):
    client = Client()
    response = client.post(url(link_a), {"description": "Slow drain"})
    assert client.get(response["Location"]).content.decode().count(html.escape(DEFAULT_CONFIRMATION)) == 1
    edit = page(client, link_a).content.decode()
    assert "Slow drain</textarea>" in edit
    client.post(url(link_a), {"description": "Slow drain, now blocked"})
    assert IntakeSubmission.objects.get().description == "Slow drain, now blocked"


def test_spanish_submission_and_errors(link_a):
    client = Client()
    response = client.post(url(link_a) + "?lang=es", {"description": "", "zip_code": "9411"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "Complete este campo." in body
    assert "Escriba un código postal de 5 dígitos" in body
    response = client.post(url(link_a) + "?lang=es", {"description": "Fuga en el baño"})
    assert response["Location"].endswith("?lang=es")
    assert IntakeSubmission.objects.get().language == "es"
    assert "Gracias" in client.get(response["Location"]).content.decode()


def test_invalid_answers_show_errors_and_save_nothing(link_a, settings_a):
    response = Client().post(
        url(link_a),
        {"description": "x" * 2001, "zip_code": "ABCDE", "service_type": "Roofing", "urgency": "yesterday"},
    )
    body = response.content.decode()
    assert "Please keep this under 2000 characters." in body
    assert "Enter a 5-digit ZIP code" in body
    assert body.count("Please choose one of the options.") == 2
    assert 'role="alert"' in body
    assert not IntakeSubmission.objects.exists()


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (
            SimpleUploadedFile("leak.jpg", b"this is a text file", content_type="image/jpeg"),
            "leak.jpg is not a JPEG, PNG or WebP photo (or it is damaged).",
        ),
        (
            SimpleUploadedFile("huge.jpg", b"\xff\xd8\xff" + b"0" * (5 * 1024 * 1024), content_type="image/jpeg"),
            "huge.jpg is 5.0 MB; each photo can be at most 5 MB.",
        ),
        (
            SimpleUploadedFile("pic.gif", image_bytes("GIF"), content_type="image/gif"),
            "pic.gif is not a JPEG, PNG or WebP photo (or it is damaged).",
        ),
    ],
    ids=["text-named-jpg", "over-5-mb", "gif"],
)
def test_bad_photos_get_a_form_error_and_nothing_is_saved(link_a, upload, message):
    response = Client().post(url(link_a), {"description": "Leak", "photos": [upload]})
    assert response.status_code == 200
    assert html.escape(message) in response.content.decode()
    assert not IntakeSubmission.objects.exists()


def test_four_photos_are_refused_three_are_kept(link_a):
    client = Client()
    response = client.post(url(link_a), {"description": "Leak", "photos": [photo(f"{i}.jpg") for i in range(4)]})
    assert "You can send at most 3 photos." in response.content.decode()
    assert not IntakeSubmission.objects.exists()

    response = client.post(
        url(link_a),
        {"description": "Leak", "photos": [photo("a.jpg"), photo("b.png", "PNG"), photo("c.webp", "WEBP")]},
    )
    assert response.status_code == 302
    submission = IntakeSubmission.objects.get()
    assert sorted(submission.photos.values_list("content_type", flat=True)) == [
        "image/jpeg",
        "image/png",
        "image/webp",
    ]
    assert "You already sent 3 photo(s)." in page(client, link_a).content.decode()


def test_photos_over_the_total_limit_are_refused(link_a, monkeypatch):
    monkeypatch.setattr("intake.forms.MAX_PHOTOS_TOTAL_BYTES", len(image_bytes()) + 1)
    response = Client().post(url(link_a), {"description": "Leak", "photos": [photo("a.jpg"), photo("b.jpg")]})
    assert "the limit is 12 MB" in response.content.decode()
    assert not IntakeSubmission.objects.exists()


def test_honeypot_looks_normal_but_saves_nothing(link_a):
    client = Client()
    response = client.post(url(link_a), {"description": "Buy cheap pills", "website": "http://spam.example"})
    assert response.status_code == 302
    assert response["Location"] == f"/i/{link_a.token}/done?lang=en"
    assert client.get(response["Location"]).status_code == 200
    assert not IntakeSubmission.objects.exists()
    assert not AuditEvent.objects.filter(action="intake.submitted").exists()


def test_a_changed_disclosure_must_be_agreed_to_again(link_a, settings_a):
    client = Client()
    shown = page(client, link_a).content.decode()
    fingerprint = re.search(r'name="disclosure_fingerprint" value="([0-9a-f]+)"', shown)[1]
    settings_a.disclosure_text = "{business} may text me about this job."
    settings_a.save()
    response = client.post(url(link_a), {**FORM, "disclosure_fingerprint": fingerprint})
    assert "The wording of this agreement just changed." in response.content.decode()
    assert not ConsentEvent.objects.exists()
    reshown = re.search(r'name="disclosure_fingerprint" value="([0-9a-f]+)"', response.content.decode())[1]
    assert reshown != fingerprint
    assert "Acme Plumbing may text me about this job." in response.content.decode()
    response = client.post(url(link_a), {**FORM, "disclosure_fingerprint": reshown})
    assert response.status_code == 302
    assert ConsentEvent.objects.get().disclosure_text == "Acme Plumbing may text me about this job."


# --- tenancy, expiry, closing ------------------------------------------------------------------------------------


def test_a_token_writes_only_to_its_own_conversation(link_a, link_b, conversation_a, conversation_b):
    client = Client()
    # ids smuggled into the form are ignored: the token decides business and conversation
    response = client.post(
        url(link_b),
        {"description": "From B's caller", "conversation": conversation_a.pk, "business": conversation_a.business_id},
    )
    assert response.status_code == 302
    submission = IntakeSubmission.objects.get()
    assert (submission.business_id, submission.conversation_id) == (conversation_b.business_id, conversation_b.pk)
    assert not IntakeSubmission.objects.filter(conversation=conversation_a).exists()
    assert not AuditEvent.objects.filter(business=conversation_a.business, action="intake.submitted").exists()
    # A's page does not show B's answers
    assert "From B&#x27;s caller" not in page(client, link_a).content.decode()


def test_expired_and_unknown_tokens_get_the_same_404(tenant_a, link_a):
    IntakeLink.objects.filter(pk=link_a.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    client = Client()
    expired = client.get(url(link_a))
    unknown = client.get(f"/i/{'A' * len(link_a.token)}")
    assert expired.status_code == unknown.status_code == 404
    assert expired.content == unknown.content
    assert "This link is no longer available" in expired.content.decode()
    assert "Acme" not in expired.content.decode()
    assert client.post(url(link_a), {"description": "late"}).content == unknown.content
    assert client.get(url(link_a) + "/done").content == client.get(f"/i/{'A' * 16}/done").content
    assert IntakeLink.objects.get(pk=link_a.pk).opened_at is None
    assert not IntakeSubmission.objects.exists()


def test_closed_conversation_is_refused_with_a_call_us_page(link_a, conversation_a):
    client = Client()
    client.post(url(link_a), {"description": "Leak"})
    Conversation.objects.filter(pk=conversation_a.pk).update(status=Conversation.Status.CLOSED)
    response = client.post(url(link_a), {"description": "Changed my mind"})
    assert response.status_code == 410
    body = response.content.decode()
    assert "This request is closed" in body
    assert f'href="tel:{conversation_a.phone_number.e164}"' in body
    assert IntakeSubmission.objects.get().description == "Leak"
    assert client.get(url(link_a)).status_code == 410


# --- rate limits -------------------------------------------------------------------------------------------------


def test_per_token_post_limit(tenant_a, link_a):
    client = Client()
    for _ in range(10):
        assert client.post(url(link_a), {"description": ""}).status_code == 200
    tripped = client.post(url(link_a), {"description": "one more"})
    assert tripped.status_code == 429
    assert not IntakeSubmission.objects.exists()
    # another link from the same address still works
    other = intake_link_for(conversation=open_conversation(tenant_a.business, phone="+14155550199"))
    assert client.post(url(other), {"description": "ok"}).status_code == 302


def test_per_ip_post_limit(tenant_a):
    links = [
        intake_link_for(conversation=open_conversation(tenant_a.business, phone=f"+1415555{1000 + i}"))
        for i in range(4)
    ]
    client = Client(REMOTE_ADDR="203.0.113.7")
    for i in range(30):
        assert client.post(url(links[i // 10]), {"description": ""}).status_code == 200
    assert client.post(url(links[3]), {"description": "x"}).status_code == 429
    assert Client(REMOTE_ADDR="203.0.113.8").post(url(links[3]), {"description": "x"}).status_code == 302


def test_per_ip_get_limit(link_a):
    client = Client(REMOTE_ADDR="198.51.100.4")
    for _ in range(120):
        assert page(client, link_a).status_code == 200
    assert page(client, link_a).status_code == 429
    assert page(Client(REMOTE_ADDR="198.51.100.5"), link_a).status_code == 200


def test_settings_are_created_on_first_visit(tenant_a, link_a):
    page(Client(), link_a)
    assert intake_settings_for(business=tenant_a.business).fields_required == ["description"]


@pytest.mark.parametrize("zip_code", ["\u0669\u0664\u0661\u0661\u0660", "\uff19\uff14\uff11\uff11\uff10"])
def test_zip_codes_take_ascii_digits_only(link_a, zip_code):
    response = post(Client(), link_a, {"description": "Leak", "zip_code": zip_code})
    assert response.status_code == 200 and not IntakeSubmission.objects.exists()

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messaging import templating
from messaging.models import Message, TextbackSettings
from messaging.segments import analyse
from tests import twilio
from tests.tenancy import assert_guarded

URL = "/app/acme/settings/templates/"


@pytest.mark.django_db
def test_templates_page_is_managers_only(tenant_a, tenant_b, client_for):
    assert_guarded(client_for, URL, own=tenant_a, other=tenant_b, allowed_roles=("owner", "admin"))
    assert_guarded(
        client_for,
        URL + "preview/",
        own=tenant_a,
        other=tenant_b,
        allowed_roles=("owner", "admin"),
        method="post",
        data={"open_template": "x", "closed_template": "y"},
    )


@pytest.mark.django_db
def test_owner_saves_templates_and_the_next_textback_uses_them(tenant_a, number_a, client_for):
    client = client_for(tenant_a.owner)
    response = client.post(
        URL,
        {
            "open_template": "{business} here! Sorry we missed you. Reply with details.",
            "closed_template": "{business}: we open {next_opening}.",
            "delay_seconds": "0",
        },
    )
    assert response.status_code == 302
    tenant_a.business.refresh_from_db()
    assert tenant_a.business.templates_reviewed_at is not None
    call_sid, response = twilio.missed_call(status="busy")
    assert response.status_code == 200
    message = twilio.textback(call_sid)
    assert message.body == "Acme Plumbing here! Sorry we missed you. Reply with details. Reply STOP to opt out."
    assert message.trigger == "rule" and message.trigger_detail.endswith("open_template")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("Hi {name}!", "Unknown variable {name}"),
        ("x" * 1601, "under 1600"),
        ("Hi {business", "Unbalanced braces"),
        ("   ", "required"),
    ],
)
def test_bad_templates_are_refused_with_a_clear_error(tenant_a, client_for, template, error):
    client = client_for(tenant_a.owner)
    response = client.post(URL, {"open_template": template, "closed_template": "ok {business}", "delay_seconds": 0})
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not TextbackSettings.objects.filter(open_template=template).exists()


@pytest.mark.django_db
def test_delay_out_of_range_is_refused(tenant_a, client_for):
    response = client_for(tenant_a.owner).post(
        URL, {"open_template": "a", "closed_template": "b", "delay_seconds": 500}
    )
    assert response.status_code == 200 and "less than or equal to 120" in response.content.decode()


@pytest.mark.django_db
def test_preview_shows_segments_and_encoding_warning(tenant_a, client_for):
    client = client_for(tenant_a.owner)
    response = client.post(
        URL + "preview/",
        {"open_template": "Hi 😀 " + "a" * 200, "closed_template": "{business}"},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert response.status_code == 200 and "UCS-2" in html and "switch the text to UCS-2" in html
    assert "4 segments" in html and "Keep text-backs to one or two" in html
    assert "1 segment" in html and "Acme Plumbing" in html


@pytest.mark.django_db
def test_delayed_textback_waits_for_the_sweeper(tenant_a, number_a):
    from django.utils import timezone

    TextbackSettings.objects.create(
        business=tenant_a.business, open_template="Hi", closed_template="Hi", delay_seconds=60
    )
    _, response = twilio.missed_call(status="busy")
    assert response.status_code == 200
    message = Message.objects.get()
    assert 55 < (message.next_attempt_at - timezone.now()).total_seconds() <= 60


@pytest.mark.parametrize(
    ("body", "encoding", "segments"),
    [
        ("", "GSM-7", 0),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),
        ("€" * 81, "GSM-7", 2),
        ("é" * 160, "GSM-7", 1),
        ("ó" * 70, "UCS-2", 1),
        ("ó" * 71, "UCS-2", 2),
        ("😀" * 35, "UCS-2", 1),
        ("😀" * 36, "UCS-2", 2),
        ("“quoted”", "UCS-2", 1),
    ],
)
def test_segment_counts(body, encoding, segments):
    info = analyse(body)
    assert (info.encoding, info.segments) == (encoding, segments)


@given(st.text(max_size=400))
def test_segment_analysis_never_crashes(body):
    info = analyse(body)
    assert info.segments >= (1 if body else 0)


@pytest.mark.django_db
def test_default_templates_fit_in_two_gsm_segments(tenant_a):
    context = templating.template_context(business=tenant_a.business, contact_name="Maria Lopez")
    for template in (templating.DEFAULT_OPEN, templating.DEFAULT_CLOSED):
        rendered = templating.render(template, context, opt_out_footer=True)
        assert rendered.encoding == "GSM-7" and rendered.segments <= 2
        assert "Acme Plumbing" in rendered.body and "{" not in rendered.body


@pytest.mark.django_db
def test_a_stored_template_that_no_longer_renders_falls_back_to_the_default(tenant_a, number_a):
    TextbackSettings.objects.create(
        business=tenant_a.business, open_template="Hi {retired_variable}", closed_template="Hi {retired_variable}"
    )
    call_sid, response = twilio.missed_call(status="busy")
    assert response.status_code == 200
    message = twilio.textback(call_sid)
    assert message.body.startswith("Hi, this is Acme Plumbing, sorry we missed your call")


@pytest.mark.django_db
@pytest.mark.parametrize("template", ["Hi from {business:d}", "{business!x}", "{business:>999999999}", "{0}", "{}"])
def test_format_specs_conversions_and_positional_fields_are_refused(tenant_a, client_for, template):
    client = client_for(tenant_a.owner)
    response = client.post(URL, {"open_template": template, "closed_template": "ok {business}", "delay_seconds": 0})
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    preview = client.post(URL + "preview/", {"open_template": template, "closed_template": "x"})
    assert preview.status_code == 200
    assert not TextbackSettings.objects.filter(open_template=template).exists()
    with pytest.raises(templating.TemplateError):
        templating.render(template, templating.template_context(business=tenant_a.business), opt_out_footer=False)


@pytest.mark.django_db
def test_textback_carries_the_callers_intake_link(tenant_a, number_a):
    from intake.models import IntakeLink

    call_sid, response = twilio.missed_call(status="no-answer")
    assert response.status_code == 200
    message = twilio.textback(call_sid)
    link = IntakeLink.objects.get(conversation=message.conversation)
    assert f"http://127.0.0.1:8000/i/{link.token}" in message.body
    assert len(link.token) >= 16 and link.business == tenant_a.business
    assert message.encoding == "GSM-7" and message.segments <= 2

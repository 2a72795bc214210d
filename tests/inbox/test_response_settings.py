"""The owner's "Urgency & response" page: who may use it, what it saves, its form errors, previews and audit."""

import datetime as dt

import pytest
from django.urls import reverse

from compliance.models import AuditEvent
from inbox.models import ResponseSettings
from inbox.services_response import response_settings_update
from tenants.models import Membership
from tests.tenancy import assert_guarded

pytestmark = pytest.mark.django_db

MANAGERS = (Membership.Role.OWNER, Membership.Role.ADMIN)


def url(tenant) -> str:
    return reverse("settings_response", args=[tenant.business.slug])


def form_data(**changes) -> dict:
    """A complete, valid submission (the defaults), with `changes` on top."""
    data = {
        "trades": ["plumbing"],
        "extra_phrases": "",
        "ignore_phrases": "",
        "repeat_calls": "3",
        "repeat_window_minutes": "30",
        "sla_enabled": "on",
        "sla_open_minutes": "15",
        "sla_closed_minutes": "15",
        "follow_up_enabled": "on",
        "follow_up_delay": "2",
        "follow_up_unit": "hours",
        "follow_up_template": "",
        "out_of_area_reply": "",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_page_is_for_owners_and_admins_of_this_business(client_for, tenant_a, tenant_b):
    # refused POSTs (an operator, the other business's owner) change nothing
    assert client_for(tenant_a.operator).post(url(tenant_a), form_data(trades=["hvac"])).status_code == 403
    assert client_for(tenant_b.owner).post(url(tenant_a), form_data(trades=["hvac"])).status_code == 404
    assert not ResponseSettings.objects.exists()
    for method, data in (("get", None), ("post", form_data())):
        assert_guarded(
            client_for, url(tenant_a), own=tenant_a, other=tenant_b, allowed_roles=MANAGERS, method=method, data=data
        )


def test_get_shows_the_defaults_without_writing_and_links_from_the_settings_nav(client_for, tenant_a):
    response = client_for(tenant_a.owner).get(url(tenant_a))
    assert response.status_code == 200
    page = response.content.decode()
    assert not ResponseSettings.objects.exists()  # reading the page creates nothing
    assert f'href="{url(tenant_a)}" aria-current="page"' in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert 'value="15"' in page and 'value="2"' in page and '<option value="hours" selected>' in page
    # the default follow-up, filled in for a sample caller, with its cost
    assert "Acme Plumbing here, following up on your call." in page
    assert "Reply STOP to opt out." in page
    assert "segment" in page


def test_owner_saves_everything_and_the_audit_lists_what_changed(client_for, tenant_a):
    client = client_for(tenant_a.owner)
    data = form_data(
        trades=["hvac", "plumbing"],
        extra_phrases="  Water heater   OUT \r\nwater heater out\r\n\r\nboiler down",
        ignore_phrases="leak detection",
        repeat_calls="4",
        repeat_window_minutes="20",
        sla_enabled=None,  # unticked
        sla_open_minutes="10",
        sla_closed_minutes="0",
        follow_up_delay="1",
        follow_up_unit="days",
        follow_up_template="Hi from {business}! Still need us? {intake_link}\r\n",
        out_of_area_reply="Sorry {first_name}, {business} doesn't cover your area yet.",
    )
    response = client.post(url(tenant_a), data)
    assert response.status_code == 302 and response["Location"] == url(tenant_a)
    saved = ResponseSettings.objects.get(business=tenant_a.business)
    assert saved.trades == ["plumbing", "hvac"]  # in the list's order
    assert saved.extra_phrases == ["Water heater OUT", "boiler down"]  # tidied, the repeat dropped
    assert saved.ignore_phrases == ["leak detection"]
    assert (saved.repeat_calls, saved.repeat_window_minutes) == (4, 20)
    assert (saved.sla_enabled, saved.sla_open_minutes, saved.sla_closed_minutes) == (False, 10, 0)
    assert (saved.follow_up_enabled, saved.follow_up_delay_minutes) == (True, 24 * 60)
    assert saved.follow_up_template == "Hi from {business}! Still need us? {intake_link}"
    assert saved.out_of_area_reply == "Sorry {first_name}, {business} doesn't cover your area yet."

    entry = AuditEvent.objects.get(action="response_settings.update")
    assert entry.actor == tenant_a.owner and entry.business == tenant_a.business
    assert "follow_up_template" in entry.detail["changed"] and "follow_up_template" not in entry.detail
    assert entry.detail["sla_enabled"] is False and entry.detail["follow_up_delay_minutes"] == 1440

    page = client.get(url(tenant_a)).content.decode()
    assert "Urgency and response settings saved." in page
    assert '<option value="days" selected>' in page
    assert "Sorry Sam, Acme Plumbing doesn&#x27;t cover your area yet." in page  # the preview

    # saving the same again changes nothing and writes no second audit entry
    assert client.post(url(tenant_a), data).status_code == 302
    assert AuditEvent.objects.filter(action="response_settings.update").count() == 1


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"extra_phrases": "no"}, "extra_phrases", "“no” is too short"),
        ({"extra_phrases": "x" * 61}, "extra_phrases", "is too long (at most 60 characters)"),
        ({"ignore_phrases": "!!!"}, "ignore_phrases", "has no words in it"),
        ({"extra_phrases": "\n".join(f"phrase {n}" for n in range(101))}, "extra_phrases", "At most 100 phrases"),
        ({"repeat_calls": "1"}, "repeat_calls", "One call is not a repeat"),
        ({"repeat_calls": "21"}, "repeat_calls", "from 0 to 20"),
        ({"repeat_window_minutes": "0"}, "repeat_window_minutes", "from 1 to 1440"),
        ({"sla_open_minutes": "abc"}, "sla_open_minutes", "Enter a whole number from 1 to 1440."),
        ({"sla_closed_minutes": "-5"}, "sla_closed_minutes", "from 0 to 1440"),
        ({"follow_up_delay": "10", "follow_up_unit": "minutes"}, "follow_up_delay", "between 15 minutes and 7 days"),
        ({"follow_up_delay": "8", "follow_up_unit": "days"}, "follow_up_delay", "between 15 minutes and 7 days"),
        ({"follow_up_unit": "weeks"}, "follow_up_unit", "Choose minutes, hours or days."),
        ({"follow_up_template": "Hi {name}"}, "follow_up_template", "Unknown variable {name}"),
        ({"follow_up_template": "Hi {business"}, "follow_up_template", "Unbalanced braces"),
        ({"follow_up_template": "x" * 601}, "follow_up_template", "Keep it to 600 characters"),
        ({"out_of_area_reply": "Sorry {intake_link}"}, "out_of_area_reply", "Unknown variable {intake_link}"),
        ({"trades": ["plumbing", "astrology"]}, "trades", "Choose trades from the list."),
    ],
)
def test_bad_input_is_a_clear_form_error_and_saves_nothing(client_for, tenant_a, changes, field, message):
    response = client_for(tenant_a.admin).post(url(tenant_a), form_data(**changes))
    assert response.status_code == 200
    assert any(message in error for error in response.context["form"].errors[field]), response.context["form"].errors
    assert "Nothing was saved" in response.content.decode()
    assert not ResponseSettings.objects.exists()
    assert not AuditEvent.objects.filter(action="response_settings.update").exists()


def test_update_preview_renders_without_saving(client_for, tenant_a):
    response = client_for(tenant_a.owner).post(
        url(tenant_a),
        form_data(follow_up_template="Hola {first_name} de {business} 👋", preview="1", out_of_area_reply="{oops}"),
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Hola Sam de Acme Plumbing 👋 Reply STOP to opt out." in page
    assert "UCS-2" in page  # the emoji switches the encoding
    assert "Unknown variable {oops}" in page
    assert "Nothing was saved" not in page
    assert not ResponseSettings.objects.exists()


def test_service_checks_the_rules_again_and_leaves_the_on_call_fields_alone(tenant_a):
    settings = ResponseSettings.objects.create(business=tenant_a.business, ack_minutes=9, handover_hour=7)
    values = {
        "trades": ["plumbing"],
        "extra_phrases": ["ok phrase"],
        "ignore_phrases": [],
        "repeat_calls": 3,
        "repeat_window_minutes": 30,
        "sla_enabled": True,
        "sla_open_minutes": 15,
        "sla_closed_minutes": 15,
        "follow_up_enabled": True,
        "follow_up_delay_minutes": 120,
        "follow_up_template": "",
        "out_of_area_reply": "",
    }
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        response_settings_update(
            business=tenant_a.business, actor=None, **{**values, "follow_up_delay_minutes": 3 * 7 * 24 * 60}
        )
    assert "follow_up_delay_minutes" in caught.value.error_dict
    with pytest.raises(ValidationError):
        response_settings_update(business=tenant_a.business, actor=None, **{**values, "extra_phrases": ["a"]})
    # someone saved the on-call page meanwhile: this page's save does not undo it
    ResponseSettings.objects.filter(pk=settings.pk).update(ack_minutes=11)
    response_settings_update(business=tenant_a.business, actor=tenant_a.owner, **{**values, "sla_open_minutes": 5})
    settings.refresh_from_db()
    assert (settings.sla_open_minutes, settings.extra_phrases, settings.ack_minutes, settings.handover_hour) == (
        5,
        ["ok phrase"],
        11,
        7,
    )


def test_page_says_when_a_caller_writing_now_is_due(client_for, tenant_a, time_machine):
    from tests.factories import BusinessHoursFactory

    business = tenant_a.business  # America/New_York
    BusinessHoursFactory(business=business, weekday=0, opens=dt.time(8), closes=dt.time(17))  # Mondays only
    time_machine.move_to(dt.datetime(2026, 3, 2, 23, 0, tzinfo=business.tz), tick=False)  # Monday 11 pm
    page = client_for(tenant_a.owner).get(url(tenant_a)).content.decode()
    assert "You are closed now" in page
    assert "Monday at 8:15 AM" in page  # next Monday's opening + 15 minutes

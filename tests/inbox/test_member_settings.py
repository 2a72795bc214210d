"""My settings (/app/<slug>/me/): every member's own phone, alerts and away switch; saved with an audit entry,
refusing junk phone numbers with a clear error; another business's members get 404."""

import pytest
from django.test import Client
from django.urls import reverse

from compliance.models import AuditEvent
from inbox.models import MemberSettings
from inbox.routing import available_members
from tenants.models import Membership
from tests.tenancy import assert_guarded

pytestmark = pytest.mark.django_db

ALL_ON = {
    "notify_new_conversation": "on",
    "notify_new_message": "on",
    "notify_urgent": "on",
    "notify_mention": "on",
    "by_email": "on",
}


def url(tenant) -> str:
    return reverse("member_settings", args=[tenant.business.slug])


def membership(tenant, role: str) -> Membership:
    return Membership.objects.get(business=tenant.business, user=tenant.user(role))


def test_every_role_has_my_settings_and_another_business_gets_404(client_for, tenant_a, tenant_b):
    assert url(tenant_a) == "/app/acme/me/"
    assert_guarded(client_for, url(tenant_a), own=tenant_a, other=tenant_b, allowed_roles=Membership.Role.values)
    assert_guarded(
        client_for,
        url(tenant_a),
        own=tenant_a,
        other=tenant_b,
        allowed_roles=Membership.Role.values,
        method="post",
        data={**ALL_ON, "phone": "(415) 555-0100"},
    )
    # nothing a member of B posted to A's page was saved anywhere
    assert not MemberSettings.objects.filter(business=tenant_b.business).exists()


def test_the_page_shows_the_defaults_and_is_in_the_nav(client_for, tenant_a):
    response = client_for(tenant_a.operator).get(url(tenant_a))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<a href="/app/acme/me/" aria-current="page">My settings</a>' in html
    assert 'name="csrfmiddlewaretoken"' in html
    form = response.context["form"]
    assert form["notify_new_conversation"].value() is True and form["by_email"].value() is True
    assert form["by_sms"].value() is False and form["away"].value() is False
    assert 'type="tel"' in html and "operator@acme.test" in html
    dashboard = client_for(tenant_a.operator).get(reverse("dashboard", args=["acme"])).content.decode()
    assert '<a href="/app/acme/me/">My settings</a>' in dashboard


def test_saving_stores_the_phone_the_choices_and_an_audit_entry(client_for, tenant_a):
    operator = tenant_a.operator
    data = {"phone": "(415) 555-0100", "notify_urgent": "on", "by_sms": "on", "away": "on"}
    response = client_for(operator).post(url(tenant_a), data, follow=True)
    assert response.redirect_chain == [("/app/acme/me/", 302)]
    assert "Your settings are saved." in response.content.decode()
    operator.refresh_from_db()
    assert operator.phone == "+14155550100"
    saved = MemberSettings.objects.get(membership=membership(tenant_a, "operator"))
    assert saved.business_id == tenant_a.business.pk
    assert (saved.notify_new_conversation, saved.notify_new_message, saved.notify_urgent, saved.notify_mention) == (
        False,
        False,
        True,
        False,
    )
    assert (saved.by_email, saved.by_sms, saved.away) == (False, True, True)
    [entry] = AuditEvent.objects.filter(action="member.settings")
    assert entry.business_id == tenant_a.business.pk and entry.actor_id == operator.pk
    assert entry.detail["created"] is True and "phone" in entry.detail["fields"] and "away" in entry.detail["fields"]
    assert "+14155550100" not in str(entry.detail)  # the audit log names what changed, not the number
    # shown back in national format
    assert response.context["form"]["phone"].value() == "(415) 555-0100"
    # away: automatic assignment skips them
    assert operator.pk not in [user_id for user_id, _ in available_members(business_id=tenant_a.business.pk)]


def test_saving_the_same_again_writes_no_second_audit_entry(client_for, tenant_a):
    client = client_for(tenant_a.owner)
    client.post(url(tenant_a), {**ALL_ON, "phone": "+1 415 555 0100"})
    client.post(url(tenant_a), {**ALL_ON, "phone": "415.555.0100"})
    assert AuditEvent.objects.filter(action="member.settings").count() == 1


@pytest.mark.parametrize(
    ("phone", "error"),
    [
        ("call me maybe", "“call me maybe” is not a phone number."),
        ("555-0100", "is not a valid phone number."),
        ("1" * 41, "Ensure this value has at most 40 characters"),
    ],
)
def test_a_bad_phone_is_a_form_error_and_nothing_is_saved(client_for, tenant_a, phone, error):
    operator = tenant_a.operator
    operator.phone = "+14155550100"
    operator.save()
    response = client_for(operator).post(url(tenant_a), {**ALL_ON, "phone": phone, "away": "on"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Nothing was saved." in html and error in html
    assert phone[:20] in html  # what they typed is kept
    operator.refresh_from_db()
    assert operator.phone == "+14155550100"
    assert not MemberSettings.objects.exists() and not AuditEvent.objects.filter(action="member.settings").exists()


def test_texts_without_a_phone_are_refused(client_for, tenant_a):
    response = client_for(tenant_a.operator).post(url(tenant_a), {**ALL_ON, "phone": "", "by_sms": "on"})
    assert response.status_code == 200
    assert "Add your mobile number to get alerts by text" in response.content.decode()
    assert not MemberSettings.objects.exists()


def test_clearing_the_phone_is_allowed(client_for, tenant_a):
    operator = tenant_a.operator
    operator.phone = "+14155550100"
    operator.save()
    assert client_for(operator).post(url(tenant_a), {**ALL_ON, "phone": "  "}).status_code == 302
    operator.refresh_from_db()
    assert operator.phone == ""


def test_a_member_only_ever_changes_their_own_settings(client_for, tenant_a):
    client_for(tenant_a.operator).post(url(tenant_a), {"phone": "", "away": "on"})
    assert list(MemberSettings.objects.values_list("membership__user", flat=True)) == [tenant_a.operator.pk]
    tenant_a.owner.refresh_from_db()
    assert tenant_a.owner.phone == ""


def test_the_form_needs_the_csrf_token(tenant_a):
    client = Client(enforce_csrf_checks=True)
    client.force_login(tenant_a.operator)
    assert client.post(url(tenant_a), {**ALL_ON, "phone": ""}).status_code == 403
    assert not MemberSettings.objects.exists()


def test_the_page_fits_a_phone(client_for, tenant_a):
    html = client_for(tenant_a.operator).get(url(tenant_a)).content.decode()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert 'class="btn-block"' in html and "max-width:40rem" in html

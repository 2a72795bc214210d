"""Numbers, blocklist and carrier-account settings pages: who may use them, what they store, what they never show."""

import pytest
from django.db import connection
from django.test import Client
from django.urls import NoReverseMatch, include, path, reverse

from telephony.models import BlockedNumber, CarrierCredential, PhoneNumber
from telephony.selectors import twilio_webhook_urls
from tenants.permissions import MANAGERS, OWNERS
from tests.factories import CallFactory, CarrierCredentialFactory, PhoneNumberFactory
from tests.tenancy import assert_guarded

pytestmark = pytest.mark.django_db

A_NUMBER = "+16282001000"
B_NUMBER = "+16282002000"
MOBILE = "+14152361000"
SID = "AC" + "0123456789abcdef" * 2
TOKEN = "fedcba9876543210" * 2

# A URLconf with only the voice webhooks, to prove that missing messaging routes are left out, not a 500.
urlpatterns = [path("webhooks/", include("telephony.urls_webhooks"))]


def url(name: str, tenant, *args) -> str:
    return reverse(name, args=[tenant.business.slug, *args])


def number_data(**overrides) -> dict:
    data = {
        "e164": "(628) 200-1234",
        "label": "Main line",
        "provider": "twilio",
        "mode": "ring",
        "forward_to": "415 236 1000",
        "ring_timeout": "18",
        "screening": "on",
        "voicemail_enabled": "on",
        "voicemail_greeting": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def number_a(tenant_a):
    return PhoneNumberFactory(business=tenant_a.business, e164=A_NUMBER, forward_to=MOBILE, label="Office")


@pytest.fixture
def number_b(tenant_b):
    return PhoneNumberFactory(business=tenant_b.business, e164=B_NUMBER, forward_to="+14152362000", label="Bolt van")


# --- who may use the pages -------------------------------------------------------------------------------------


def test_numbers_pages_are_for_managers_only(client_for, tenant_a, tenant_b, number_a):
    number_with_calls = PhoneNumberFactory(business=tenant_a.business, e164="+16282001001")
    CallFactory(phone_number=number_with_calls)  # so the delete below is refused and the row stays for every role
    for name, args in [("settings_numbers", ()), ("settings_number_add", ()), ("settings_number_edit", (number_a.pk,))]:
        assert_guarded(client_for, url(name, tenant_a, *args), own=tenant_a, other=tenant_b, allowed_roles=MANAGERS)
    posts = [
        (url("settings_number_add", tenant_a), number_data()),
        (url("settings_number_edit", tenant_a, number_a.pk), number_data(e164=A_NUMBER, label="Renamed")),
        (url("settings_number_delete", tenant_a, number_with_calls.pk), {}),
        (url("settings_blocked_add", tenant_a), {"number": "+14152419999"}),
    ]
    for target, data in posts:
        assert_guarded(
            client_for, target, own=tenant_a, other=tenant_b, allowed_roles=MANAGERS, method="post", data=data
        )
    assert PhoneNumber.objects.filter(e164="+16282001234", business=tenant_a.business).count() == 1
    assert PhoneNumber.objects.get(pk=number_a.pk).label == "Renamed"
    assert PhoneNumber.objects.filter(pk=number_with_calls.pk).exists()


def test_blocked_number_removal_is_for_managers_only(client_for, tenant_a, tenant_b):
    blocked = BlockedNumber.objects.create(business=tenant_a.business, e164="+14152419999")
    target = url("settings_blocked_delete", tenant_a, blocked.pk)
    assert Client().post(target).status_code == 302
    for role in ("owner", "admin", "operator"):
        assert client_for(tenant_b.user(role)).post(target).status_code == 404
    assert client_for(tenant_a.operator).post(target).status_code == 403
    assert BlockedNumber.objects.filter(pk=blocked.pk).exists()
    for role, e164 in (("admin", "+14152410001"), ("owner", "+14152410002")):
        blocked = BlockedNumber.objects.create(business=tenant_a.business, e164=e164)
        response = client_for(tenant_a.user(role)).post(url("settings_blocked_delete", tenant_a, blocked.pk))
        assert response.status_code == 302
        assert not BlockedNumber.objects.filter(pk=blocked.pk).exists()


def test_carrier_page_is_for_owners_only(client_for, tenant_a, tenant_b):
    target = url("settings_carrier", tenant_a)
    assert_guarded(client_for, target, own=tenant_a, other=tenant_b, allowed_roles=OWNERS)
    data = {"account_sid": SID, "auth_token": TOKEN}
    assert_guarded(client_for, target, own=tenant_a, other=tenant_b, allowed_roles=OWNERS, method="post", data=data)
    assert CarrierCredential.objects.get(business=tenant_a.business).account_sid == SID
    assert_guarded(
        client_for,
        url("settings_carrier_delete", tenant_a),
        own=tenant_a,
        other=tenant_b,
        allowed_roles=OWNERS,
        method="post",
    )
    assert not CarrierCredential.objects.filter(business=tenant_a.business).exists()


def test_another_business_number_is_not_found_under_my_slug(client_for, tenant_a, number_b):
    client = client_for(tenant_a.owner)
    assert client.get(url("settings_number_edit", tenant_a, number_b.pk)).status_code == 404
    assert client.post(url("settings_number_edit", tenant_a, number_b.pk), number_data()).status_code == 404
    assert client.post(url("settings_number_delete", tenant_a, number_b.pk)).status_code == 404
    blocked_b = BlockedNumber.objects.create(business=number_b.business, e164="+14152419999")
    assert client.post(url("settings_blocked_delete", tenant_a, blocked_b.pk)).status_code == 404
    assert PhoneNumber.objects.filter(pk=number_b.pk).exists()
    assert BlockedNumber.objects.filter(pk=blocked_b.pk).exists()


# --- list, add, edit, delete -----------------------------------------------------------------------------------


def test_list_shows_only_my_numbers(client_for, tenant_a, number_a, number_b):
    html = client_for(tenant_a.admin).get(url("settings_numbers", tenant_a)).content.decode()
    assert "Office" in html and "(628) 200-1000" in html
    assert "Bolt van" not in html and "(628) 200-2000" not in html and "Bolt" not in html


def test_add_number_normalises_and_redirects_to_set_up(client_for, tenant_a):
    response = client_for(tenant_a.owner).post(url("settings_number_add", tenant_a), number_data(ring_timeout="15"))
    number = PhoneNumber.objects.get(business=tenant_a.business)
    assert response.status_code == 302
    assert response["Location"] == url("settings_number_edit", tenant_a, number.pk)
    assert (number.e164, number.forward_to, number.mode, number.ring_timeout) == ("+16282001234", MOBILE, "ring", 15)
    assert number.screening and number.voicemail_enabled and number.label == "Main line"


def test_provider_choices_come_from_settings(client_for, tenant_a):
    html = client_for(tenant_a.owner).get(url("settings_number_add", tenant_a)).content.decode()
    assert 'value="twilio"' in html and 'value="simulator"' in html
    response = client_for(tenant_a.owner).post(url("settings_number_add", tenant_a), number_data(provider="telnyx"))
    assert response.status_code == 200
    assert "provider" in response.context["form"].errors
    assert not PhoneNumber.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"e164": "12345"}, "e164", "is not a valid phone number"),
        ({"e164": "call me"}, "e164", "is not a phone number"),
        ({"e164": ""}, "e164", "This field is required"),
        ({"forward_to": ""}, "forward_to", "In ring mode we ring this phone first"),
        ({"forward_to": "+1 628 200 1234"}, "forward_to", "This is the business number itself"),
        ({"forward_to": "555"}, "forward_to", "is not a valid phone number"),
        ({"ring_timeout": "4"}, "ring_timeout", "greater than or equal to 5"),
        ({"ring_timeout": "61"}, "ring_timeout", "less than or equal to 60"),
        ({"mode": "both"}, "mode", "Select a valid choice"),
    ],
)
def test_add_number_errors(client_for, tenant_a, overrides, field, message):
    response = client_for(tenant_a.owner).post(url("settings_number_add", tenant_a), number_data(**overrides))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert message in " ".join(errors[field]), errors
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not PhoneNumber.objects.exists()


def test_forwarded_mode_needs_no_phone_to_ring(client_for, tenant_a):
    response = client_for(tenant_a.owner).post(
        url("settings_number_add", tenant_a), number_data(mode="forwarded", forward_to="")
    )
    assert response.status_code == 302
    assert PhoneNumber.objects.get(business=tenant_a.business).mode == "forwarded"


def test_duplicate_number_in_another_business_does_not_name_it(client_for, tenant_a, number_b):
    response = client_for(tenant_a.owner).post(
        url("settings_number_add", tenant_a), number_data(e164="+1 (628) 200-2000")
    )
    assert response.status_code == 200
    assert response.context["form"].errors["e164"] == ["This number is already connected to a SecondDesk account."]
    html = response.content.decode()
    assert "already connected to a SecondDesk account" in html
    assert "Bolt" not in html
    assert PhoneNumber.objects.filter(e164=B_NUMBER).get().business == number_b.business


def test_duplicate_number_in_my_business(client_for, tenant_a, number_a):
    response = client_for(tenant_a.owner).post(url("settings_number_add", tenant_a), number_data(e164=A_NUMBER))
    assert response.context["form"].errors["e164"] == ["This number is already on your account."]
    assert PhoneNumber.objects.count() == 1


def test_edit_number_cannot_take_another_business_number(client_for, tenant_a, number_a, number_b):
    response = client_for(tenant_a.owner).post(
        url("settings_number_edit", tenant_a, number_a.pk), number_data(e164=B_NUMBER)
    )
    assert response.context["form"].errors["e164"] == ["This number is already connected to a SecondDesk account."]
    assert PhoneNumber.objects.get(pk=number_a.pk).e164 == A_NUMBER


def test_edit_number_saves_changes(client_for, tenant_a, number_a):
    response = client_for(tenant_a.admin).post(
        url("settings_number_edit", tenant_a, number_a.pk),
        number_data(
            e164=A_NUMBER,
            label="Shop",
            forward_to="+1 415 236 1001",
            ring_timeout="20",
            screening=None,
            voicemail_greeting="Leave a message for Acme.",
        ),
    )
    assert response.status_code == 302
    number_a.refresh_from_db()
    assert (number_a.label, number_a.forward_to, number_a.ring_timeout) == ("Shop", "+14152361001", 20)
    assert number_a.screening is False
    assert number_a.voicemail_greeting == "Leave a message for Acme."


def test_edit_page_shows_the_twilio_webhook_urls(client_for, tenant_a, number_a, settings):
    settings.PUBLIC_BASE_URL = "https://desk.example.com"
    html = client_for(tenant_a.owner).get(url("settings_number_edit", tenant_a, number_a.pk)).content.decode()
    assert '<code class="mono" tabindex="0">https://desk.example.com/webhooks/twilio/voice/</code>' in html
    assert '<code class="mono" tabindex="0">https://desk.example.com/webhooks/twilio/voice/status/</code>' in html
    for name in ("twilio-sms", "twilio-sms-status"):
        try:
            expected = "https://desk.example.com" + reverse(name)
        except NoReverseMatch:  # the messaging routes may not exist yet: then their rows are hidden
            assert "/sms/" not in html
        else:
            assert expected in html
    # ring mode: no forwarding codes
    assert "**61*" not in html


def test_webhook_urls_leave_out_routes_that_do_not_exist(settings):
    settings.ROOT_URLCONF = __name__
    settings.PUBLIC_BASE_URL = "https://desk.example.com"
    urls = [hook.url for hook in twilio_webhook_urls()]
    assert urls == [
        "https://desk.example.com/webhooks/twilio/voice/",
        "https://desk.example.com/webhooks/twilio/voice/status/",
    ]


def test_forwarded_mode_shows_forwarding_codes(client_for, tenant_a):
    number = PhoneNumberFactory(business=tenant_a.business, e164="+16282001500", mode="forwarded", forward_to="")
    html = client_for(tenant_a.owner).get(url("settings_number_edit", tenant_a, number.pk)).content.decode()
    assert "**61*6282001500#" in html and "**67*6282001500#" in html and "##004#" in html
    assert "*716282001500" in html
    assert "Check with your carrier" in html


def test_simulator_number_has_no_twilio_set_up(client_for, tenant_a):
    number = PhoneNumberFactory(business=tenant_a.business, e164="+16282001600", provider="simulator")
    html = client_for(tenant_a.owner).get(url("settings_number_edit", tenant_a, number.pk)).content.decode()
    assert "/webhooks/twilio/voice/" not in html
    assert reverse("simulator", args=[tenant_a.business.slug]) in html


def test_ring_timeout_help_warns_about_cell_voicemail(client_for, tenant_a):
    html = client_for(tenant_a.owner).get(url("settings_number_add", tenant_a)).content.decode()
    assert "Keep it under 20" in html and "own voicemail" in html


def test_delete_number_without_calls(client_for, tenant_a, number_a):
    response = client_for(tenant_a.owner).post(url("settings_number_delete", tenant_a, number_a.pk))
    assert response.status_code == 302 and response["Location"] == url("settings_numbers", tenant_a)
    assert not PhoneNumber.objects.filter(pk=number_a.pk).exists()


def test_delete_number_with_calls_is_refused_clearly(client_for, tenant_a, number_a):
    CallFactory(phone_number=number_a)
    client = client_for(tenant_a.owner)
    response = client.post(url("settings_number_delete", tenant_a, number_a.pk), follow=True)
    assert "has calls in its history" in response.content.decode()
    assert PhoneNumber.objects.filter(pk=number_a.pk).exists()


def test_delete_needs_post(client_for, tenant_a, number_a):
    assert client_for(tenant_a.owner).get(url("settings_number_delete", tenant_a, number_a.pk)).status_code == 405


def test_twilio_numbers_without_any_account_get_a_warning(client_for, tenant_a, number_a, settings):
    settings.TWILIO_ACCOUNT_SID = ""
    settings.TWILIO_AUTH_TOKEN = ""
    html = client_for(tenant_a.owner).get(url("settings_numbers", tenant_a)).content.decode()
    assert "No Twilio account is connected" in html
    CarrierCredentialFactory(business=tenant_a.business)
    html = client_for(tenant_a.owner).get(url("settings_numbers", tenant_a)).content.decode()
    assert "No Twilio account is connected" not in html


# --- blocklist -------------------------------------------------------------------------------------------------


def test_block_and_unblock_a_caller(client_for, tenant_a):
    client = client_for(tenant_a.admin)
    response = client.post(url("settings_blocked_add", tenant_a), {"number": "(415) 241-9999", "reason": "robocall"})
    assert response.status_code == 302
    blocked = BlockedNumber.objects.get(business=tenant_a.business)
    assert (blocked.e164, blocked.reason) == ("+14152419999", "robocall")
    # blocking again is harmless
    client.post(url("settings_blocked_add", tenant_a), {"number": "+1 415 241 9999"})
    assert BlockedNumber.objects.filter(business=tenant_a.business).count() == 1
    html = client.get(url("settings_numbers", tenant_a)).content.decode()
    assert "(415) 241-9999" in html and "robocall" in html
    response = client.post(url("settings_blocked_delete", tenant_a, blocked.pk))
    assert response.status_code == 302
    assert not BlockedNumber.objects.exists()


def test_block_malformed_number_shows_error(client_for, tenant_a):
    response = client_for(tenant_a.owner).post(url("settings_blocked_add", tenant_a), {"number": "spam!"})
    assert response.status_code == 200
    assert "is not a phone number" in response.content.decode()
    assert not BlockedNumber.objects.exists()


def test_blocklist_of_another_business_never_appears(client_for, tenant_a, tenant_b):
    BlockedNumber.objects.create(business=tenant_b.business, e164="+14152418888", reason="sparky spammer")
    html = client_for(tenant_a.owner).get(url("settings_numbers", tenant_a)).content.decode()
    assert "(415) 241-8888" not in html and "sparky spammer" not in html


# --- carrier credentials ---------------------------------------------------------------------------------------


def test_credentials_are_stored_encrypted_and_never_rendered(client_for, tenant_a):
    client = client_for(tenant_a.owner)
    response = client.post(url("settings_carrier", tenant_a), {"account_sid": SID, "auth_token": TOKEN})
    assert response.status_code == 302
    credential = CarrierCredential.objects.get(business=tenant_a.business)
    assert credential.auth_token == TOKEN
    with connection.cursor() as cursor:
        cursor.execute("SELECT auth_token_encrypted FROM telephony_carriercredential WHERE id = %s", [credential.pk])
        (stored,) = cursor.fetchone()
    assert TOKEN not in stored and TOKEN[-8:] not in stored
    html = client.get(url("settings_carrier", tenant_a)).content.decode()
    assert TOKEN not in html
    assert "••••••••" + TOKEN[-4:] in html
    assert SID in html
    assert 'name="auth_token"' in html and f'value="{TOKEN}"' not in html


def test_credentials_with_errors_do_not_echo_the_token(client_for, tenant_a):
    response = client_for(tenant_a.owner).post(
        url("settings_carrier", tenant_a), {"account_sid": "AC123", "auth_token": TOKEN}
    )
    html = response.content.decode()
    assert "AC followed by 32" in html
    assert TOKEN not in html
    assert not CarrierCredential.objects.exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"account_sid": "AC" + "g" * 32, "auth_token": TOKEN}, "account_sid", "AC followed by 32"),
        ({"account_sid": "SK" + "a" * 32, "auth_token": TOKEN}, "account_sid", "AC followed by 32"),
        ({"account_sid": SID, "auth_token": "short"}, "auth_token", "32 letters and digits"),
        ({"account_sid": SID, "auth_token": ""}, "auth_token", "Enter the auth token"),
    ],
)
def test_credential_errors(client_for, tenant_a, data, field, message):
    response = client_for(tenant_a.owner).post(url("settings_carrier", tenant_a), data)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not CarrierCredential.objects.exists()


def test_update_keeps_token_unless_the_account_changes(client_for, tenant_a):
    client = client_for(tenant_a.owner)
    client.post(url("settings_carrier", tenant_a), {"account_sid": SID, "auth_token": TOKEN})
    # same account, blank token: keeps the stored one
    assert client.post(url("settings_carrier", tenant_a), {"account_sid": SID, "auth_token": ""}).status_code == 302
    assert CarrierCredential.objects.get().auth_token == TOKEN
    # another account needs its own token
    other_sid = "AC" + "1" * 32
    response = client.post(url("settings_carrier", tenant_a), {"account_sid": other_sid, "auth_token": ""})
    assert "Enter the auth token" in response.content.decode()
    assert CarrierCredential.objects.get().account_sid == SID
    new_token = "a" * 32
    client.post(url("settings_carrier", tenant_a), {"account_sid": other_sid, "auth_token": new_token})
    credential = CarrierCredential.objects.get()
    assert (credential.account_sid, credential.auth_token) == (other_sid, new_token)


def test_account_sid_of_another_business_is_refused_without_naming_it(client_for, tenant_a, tenant_b):
    CarrierCredentialFactory(business=tenant_b.business, account_sid=SID, auth_token=TOKEN)
    response = client_for(tenant_a.owner).post(
        url("settings_carrier", tenant_a), {"account_sid": SID, "auth_token": "b" * 32}
    )
    assert response.context["form"].errors["account_sid"] == [
        "This Twilio account is already connected to another SecondDesk account."
    ]
    html = response.content.decode()
    assert "Bolt" not in html
    assert not CarrierCredential.objects.filter(business=tenant_a.business).exists()
    assert CarrierCredential.objects.get(business=tenant_b.business).auth_token == TOKEN


def test_another_business_credentials_never_appear(client_for, tenant_a, tenant_b, settings):
    settings.TWILIO_ACCOUNT_SID = ""
    settings.TWILIO_AUTH_TOKEN = ""
    CarrierCredentialFactory(business=tenant_b.business, account_sid=SID, auth_token=TOKEN)
    html = client_for(tenant_a.owner).get(url("settings_carrier", tenant_a)).content.decode()
    assert SID not in html and TOKEN[-4:] not in html
    assert "No Twilio account is connected" in html


def test_platform_fallback_is_explained(client_for, tenant_a, settings):
    settings.TWILIO_ACCOUNT_SID = "AC" + "9" * 32
    settings.TWILIO_AUTH_TOKEN = "8" * 32
    html = client_for(tenant_a.owner).get(url("settings_carrier", tenant_a)).content.decode()
    assert "Platform account" in html
    assert settings.TWILIO_ACCOUNT_SID not in html and settings.TWILIO_AUTH_TOKEN not in html


def test_disconnect_credentials(client_for, tenant_a):
    CarrierCredentialFactory(business=tenant_a.business)
    response = client_for(tenant_a.owner).post(url("settings_carrier_delete", tenant_a))
    assert response.status_code == 302
    assert not CarrierCredential.objects.exists()


# --- Django admin ----------------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client_for):
    from tests.factories import UserFactory

    return client_for(UserFactory(email="staff@seconddesk.test", is_staff=True, is_superuser=True))


def test_admin_pages_for_telephony_models_render(staff_client, tenant_a, number_a):
    credential = CarrierCredentialFactory(business=tenant_a.business, account_sid=SID, auth_token=TOKEN)
    blocked = BlockedNumber.objects.create(business=tenant_a.business, e164="+14152419999")
    call = CallFactory(phone_number=number_a)
    for model, obj in (
        ("carriercredential", credential),
        ("phonenumber", number_a),
        ("blockednumber", blocked),
        ("call", call),
    ):
        changelist = staff_client.get(reverse(f"admin:telephony_{model}_changelist"), {"q": "acme"})
        assert changelist.status_code == 200, model
        change = staff_client.get(reverse(f"admin:telephony_{model}_change", args=[obj.pk]))
        assert change.status_code == 200, model
        assert TOKEN not in changelist.content.decode() + change.content.decode()
    html = staff_client.get(reverse("admin:telephony_carriercredential_change", args=[credential.pk])).content.decode()
    assert "••••••••" + TOKEN[-4:] in html
    assert staff_client.get(reverse("admin:telephony_call_add")).status_code == 403


def test_admin_sets_a_new_token_encrypted(staff_client, tenant_a):
    credential = CarrierCredentialFactory(business=tenant_a.business, account_sid=SID, auth_token=TOKEN)
    new_token = "0" * 31 + "1"
    response = staff_client.post(
        reverse("admin:telephony_carriercredential_change", args=[credential.pk]),
        {"business": tenant_a.business.pk, "provider": "twilio", "account_sid": SID, "new_auth_token": new_token},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    credential.refresh_from_db()
    assert credential.auth_token == new_token and new_token not in credential.auth_token_encrypted
    # a blank token keeps the stored one
    staff_client.post(
        reverse("admin:telephony_carriercredential_change", args=[credential.pk]),
        {"business": tenant_a.business.pk, "provider": "twilio", "account_sid": SID, "new_auth_token": ""},
    )
    credential.refresh_from_db()
    assert credential.auth_token == new_token


@pytest.mark.django_db
def test_owner_marks_a_number_registered_and_carrier_handled(tenant_a, client_for):
    number = PhoneNumber.objects.create(
        business=tenant_a.business, e164="+14155238886", provider="twilio", mode="forwarded"
    )
    response = client_for(tenant_a.owner).post(
        f"/app/acme/settings/numbers/{number.pk}/",
        {
            "e164": "+14155238886",
            "provider": "twilio",
            "label": "Main",
            "mode": "forwarded",
            "forward_to": "",
            "ring_timeout": 18,
            "voicemail_enabled": "on",
            "voicemail_greeting": "",
            "a2p_registered": "on",
            "carrier_handles_keywords": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:500]
    number.refresh_from_db()
    assert number.a2p_registered and number.carrier_handles_keywords and number.label == "Main"

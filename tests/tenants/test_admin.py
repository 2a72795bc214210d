"""The Django admin for platform staff: every tenants model is registered and its pages load, users are created
by email, and hours edited here obey the same overlap rules as the owner's page."""

import datetime as dt

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from tenants.models import Business, BusinessHours, Holiday, Invitation, Membership, User
from tests.factories import BusinessHoursFactory, HolidayFactory, InvitationFactory, UserFactory


@pytest.fixture
def staff(db) -> Client:
    user = User.objects.create_superuser(email="staff@seconddesk.test", password="x-unused-x")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def rows(tenant_a) -> dict:
    """One row of every model, so change pages have something to show."""
    business = tenant_a.business
    return {
        User: tenant_a.owner,
        Business: business,
        Membership: Membership.objects.get(business=business, user=tenant_a.owner),
        Invitation: InvitationFactory(business=business, invited_by=tenant_a.owner),
        BusinessHours: BusinessHoursFactory(business=business),
        Holiday: HolidayFactory(business=business),
    }


MODELS = [User, Business, Membership, Invitation, BusinessHours, Holiday]


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_tenants_model_is_registered():
    assert set(apps.get_app_config("tenants").get_models()) <= set(admin.site._registry)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_loads(staff, rows, model):
    assert staff.get(admin_url(model, "changelist")).status_code == 200
    assert staff.get(admin_url(model, "changelist"), {"q": "acme"}).status_code == 200


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_change_page_loads(staff, rows, model):
    response = staff.get(admin_url(model, "change", rows[model].pk))
    assert response.status_code == 200


@pytest.mark.parametrize("model", [m for m in MODELS if m is not Invitation], ids=lambda m: m.__name__)
def test_add_page_loads(staff, model):
    assert staff.get(admin_url(model, "add")).status_code == 200


def test_invitations_are_not_added_here_and_the_token_hash_is_read_only(staff, rows):
    assert staff.get(admin_url(Invitation, "add")).status_code == 403
    invitation = rows[Invitation]
    html = staff.get(admin_url(Invitation, "change", invitation.pk)).text
    assert invitation.token_hash in html
    assert 'name="token_hash"' not in html


def test_revoke_action(staff, rows):
    invitation = rows[Invitation]
    response = staff.post(
        admin_url(Invitation, "changelist"), {"action": "revoke", "_selected_action": [invitation.pk]}, follow=True
    )
    assert "Revoked 1 invitation." in response.text
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None


def test_business_changelist_lists_members(staff, rows):
    response = staff.get(admin_url(Business, "changelist"))
    assert response.status_code == 200
    row = response.context["cl"].result_list.get(pk=rows[Business].pk)
    assert row.member_count == 3


def test_staff_creates_a_user_by_email(staff):
    response = staff.post(
        admin_url(User, "add"),
        {
            "email": "New.Person@Example.TEST",
            "usable_password": "true",
            "password1": "a-long-pass-phrase-9",
            "password2": "a-long-pass-phrase-9",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(email="new.person@example.test")
    assert user.check_password("a-long-pass-phrase-9")


def test_duplicate_email_is_refused_whatever_the_case(staff):
    UserFactory(email="taken@example.test")
    response = staff.post(
        admin_url(User, "add"),
        {"email": "TAKEN@example.test", "usable_password": "false"},
    )
    assert response.status_code == 200
    assert "already exists" in str(response.context["adminform"].form.errors["email"])
    assert User.objects.filter(email__iexact="taken@example.test").count() == 1


def test_hours_added_in_admin_must_not_overlap(staff, rows):
    business = rows[Business]  # has Monday 08:00-17:00
    response = staff.post(
        admin_url(BusinessHours, "add"), {"business": business.pk, "weekday": 0, "opens": "12:00", "closes": "18:00"}
    )
    assert response.status_code == 200
    assert "Monday: 08:00-17:00 and 12:00-18:00 overlap." in response.text
    assert BusinessHours.objects.filter(business=business).count() == 1

    response = staff.post(
        admin_url(BusinessHours, "add"), {"business": business.pk, "weekday": 0, "opens": "17:00", "closes": "00:00"}
    )
    assert response.status_code == 302
    assert [str(h) for h in business.hours.all()] == ["Monday 08:00-17:00", "Monday 17:00-00:00"]


def _business_form(business: Business, hours: list[tuple[str, str, str]]) -> dict:
    data = {
        "name": business.name,
        "slug": business.slug,
        "is_active": "on",
        "timezone": business.timezone,
        "display_name": business.display_name,
        "brand_color": business.brand_color,
        "help_text": business.help_text,
        "booking_url": "",
        "repeat_call_window_minutes": business.repeat_call_window_minutes,
        "templates_reviewed_at_0": "",
        "templates_reviewed_at_1": "",
    }
    memberships = list(business.memberships.all())
    data |= {
        "memberships-TOTAL_FORMS": len(memberships),
        "memberships-INITIAL_FORMS": len(memberships),
        "memberships-MIN_NUM_FORMS": 0,
        "memberships-MAX_NUM_FORMS": 1000,
    }
    for i, m in enumerate(memberships):
        data |= {f"memberships-{i}-id": m.pk, f"memberships-{i}-business": business.pk}
        data |= {f"memberships-{i}-user": m.user_id, f"memberships-{i}-role": m.role}
    existing = list(business.hours.all())
    data |= {
        "hours-TOTAL_FORMS": len(existing) + len(hours),
        "hours-INITIAL_FORMS": len(existing),
        "hours-MIN_NUM_FORMS": 0,
        "hours-MAX_NUM_FORMS": 1000,
    }
    for i, h in enumerate(existing):
        data |= {f"hours-{i}-id": h.pk, f"hours-{i}-business": business.pk, f"hours-{i}-weekday": h.weekday}
        data |= {f"hours-{i}-opens": f"{h.opens:%H:%M}", f"hours-{i}-closes": f"{h.closes:%H:%M}"}
    for j, (weekday, opens, closes) in enumerate(hours, start=len(existing)):
        data |= {f"hours-{j}-business": business.pk, f"hours-{j}-weekday": weekday}
        data |= {f"hours-{j}-opens": opens, f"hours-{j}-closes": closes}
    holidays = list(business.holidays.all())
    data |= {
        "holidays-TOTAL_FORMS": len(holidays),
        "holidays-INITIAL_FORMS": len(holidays),
        "holidays-MIN_NUM_FORMS": 0,
        "holidays-MAX_NUM_FORMS": 1000,
    }
    for i, h in enumerate(holidays):
        data |= {f"holidays-{i}-id": h.pk, f"holidays-{i}-business": business.pk}
        data |= {f"holidays-{i}-date": h.date.isoformat(), f"holidays-{i}-name": h.name}
    return data


def test_business_inline_hours_are_checked_together(staff, rows):
    business = rows[Business]
    url = admin_url(Business, "change", business.pk)
    response = staff.post(url, _business_form(business, [("0", "16:00", "20:00")]))
    assert response.status_code == 200
    assert "Monday: 08:00-17:00 and 16:00-20:00 overlap." in response.text
    assert business.hours.count() == 1

    response = staff.post(url, _business_form(business, [("1", "09:00", "12:00")]))
    assert response.status_code == 302
    assert [str(h) for h in business.hours.all()] == ["Monday 08:00-17:00", "Tuesday 09:00-12:00"]
    assert business.holidays.get().date == dt.date(2026, 12, 25)

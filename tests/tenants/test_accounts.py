"""Sign-up, login, logout, password reset, accepting invitations and the business switcher."""

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django.core.cache import caches
from django.test import Client
from django.utils import timezone

from tenants import services
from tenants.models import Business, Invitation, Membership, User
from tests.factories import DEFAULT_PASSWORD, InvitationFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-much-longer-passphrase-42"
FROZEN = dt.datetime(2026, 3, 2, 15, 0, 10, tzinfo=dt.UTC)  # rate-limit windows are time-based: hold the clock


@pytest.fixture(autouse=True)
def _private_ratelimit_cache(settings):
    """Rate-limit counters in this process's memory, not the shared Redis: another test run flushing Redis
    (conftest clears the cache around every test) must not reset the counters these tests count on."""
    settings.CACHES = {
        **settings.CACHES,
        "ratelimit": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "accounts-tests"},
    }
    settings.RATELIMIT_USE_CACHE = "ratelimit"
    caches["ratelimit"].clear()
    yield
    caches["ratelimit"].clear()


def signup_data(**overrides) -> dict:
    data = {
        "full_name": "Dana Reyes",
        "email": "dana@reyes-hvac.test",
        "password": "winter-furnace-tune-up",
        "business_name": "Reyes HVAC",
        "slug": "reyes-hvac",
        "timezone": "America/Chicago",
    }
    data.update(overrides)
    return data


def counts() -> tuple[int, int, int]:
    return User.objects.count(), Business.objects.count(), Membership.objects.count()


# --- sign-up -------------------------------------------------------------------------------------------------


def test_signup_page_offers_time_zones_with_new_york_default():
    response = Client().get("/accounts/signup/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<option value="America/New_York" selected>' in html
    assert '<option value="Europe/Madrid">' in html
    for name in ("full_name", "email", "password", "business_name", "slug", "timezone"):
        assert f'for="id_{name}"' in html, name  # every input has a label


def test_signup_creates_user_business_owner_and_logs_in():
    client = Client()
    response = client.post("/accounts/signup/", signup_data(email="Dana@Reyes-HVAC.test"))

    assert response.status_code == 302
    assert response["Location"] == "/app/reyes-hvac/"
    user = User.objects.get()
    assert user.email == "dana@reyes-hvac.test"
    assert user.full_name == "Dana Reyes"
    assert user.check_password("winter-furnace-tune-up")
    business = Business.objects.get()
    assert (business.name, business.slug, business.timezone) == ("Reyes HVAC", "reyes-hvac", "America/Chicago")
    membership = Membership.objects.get()
    assert (membership.user, membership.business, membership.role) == (user, business, Membership.Role.OWNER)
    # logged in: the dashboard opens without another login
    assert client.get("/app/reyes-hvac/").status_code == 200


def test_signup_without_slug_uses_a_free_suggestion_from_the_name(tenant_a):
    client = Client()
    response = client.post("/accounts/signup/", signup_data(business_name="Acme", slug=""))
    assert response.status_code == 302
    assert response["Location"] == "/app/acme-2/"  # "acme" belongs to tenant_a
    assert Business.objects.filter(slug="acme-2", name="Acme").exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"slug": "ACME"}, "slug", "already taken"),  # tenant_a's slug, in other case
        ({"email": "OWNER@acme.test"}, "email", "already exists"),  # tenant_a's owner, in other case
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "Choose a time zone"),
        ({"slug": "admin"}, "slug", "reserved"),
        ({"slug": "static"}, "slug", "reserved"),
        ({"slug": "no spaces!"}, "slug", "lowercase letters"),
        ({"slug": "-edge-"}, "slug", "lowercase letters"),
        ({"password": "password123"}, "password", "too common"),
        ({"password": "short"}, "password", "too short"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"business_name": ""}, "business_name", "required"),
    ],
)
def test_signup_errors_are_shown_next_to_the_field_and_save_nothing(tenant_a, overrides, field, message):
    before = counts()
    client = Client()
    response = client.post("/accounts/signup/", signup_data(**overrides))

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    assert any(message in e for e in errors[field]), errors[field]
    # the error is rendered inside the field's own block, after its label and input
    blocks = response.content.decode().split('<div class="field">')
    block = next(b for b in blocks if f'<label for="id_{field}"' in b)
    assert 'class="errorlist' in block and 'aria-invalid="true"' in block
    assert counts() == before
    assert "_auth_user_id" not in client.session


def test_signup_reports_all_rule_errors_at_once(tenant_a):
    response = Client().post("/accounts/signup/", signup_data(slug="acme", email="owner@acme.test"))
    assert set(response.context["form"].errors) == {"slug", "email"}


def test_signup_that_loses_a_race_for_the_slug_leaves_no_user(tenant_a, monkeypatch):
    """The check passed but the insert hits the unique constraint: the user created a moment before is rolled
    back with it, and the person gets a form error rather than a 500."""
    monkeypatch.setattr(services, "slug_taken", lambda slug: False)
    before = counts()
    response = Client().post("/accounts/signup/", signup_data(slug="acme"))
    assert response.status_code == 200
    assert "already taken" in response.context["form"].errors["slug"][0]
    assert counts() == before
    assert not User.objects.filter(email="dana@reyes-hvac.test").exists()


def test_business_signup_service_rolls_back_on_integrity_error(tenant_a, monkeypatch):
    monkeypatch.setattr(services, "email_taken", lambda email: False)
    before = counts()
    with pytest.raises(services.ValidationError) as exc:
        services.business_signup(
            name="Dup",
            slug="dup",
            timezone="America/New_York",
            email="owner@acme.test",
            password="winter-furnace-tune-up",
            full_name="Dup",
        )
    assert "email" in exc.value.message_dict
    assert counts() == before
    assert not Business.objects.filter(slug="dup").exists()


def test_logged_in_user_can_add_a_second_business(tenant_a, client_for):
    client = client_for(tenant_a.owner)
    page = client.get("/accounts/signup/")
    assert "password" not in page.context["form"].fields
    response = client.post("/accounts/signup/", {"business_name": "Acme North", "slug": "", "timezone": "UTC"})
    assert response.status_code == 200  # "UTC" is not in the list (only Area/City zones)
    assert "timezone" in response.context["form"].errors

    response = client.post(
        "/accounts/signup/", {"business_name": "Acme North", "slug": "acme-north", "timezone": "America/Denver"}
    )
    assert response["Location"] == "/app/acme-north/"
    assert Membership.objects.get(business__slug="acme-north").user == tenant_a.owner
    assert User.objects.filter(email="owner@acme.test").count() == 1


def test_signup_is_rate_limited_per_ip():
    client = Client()
    with time_machine.travel(FROZEN, tick=False):
        for _ in range(10):
            assert client.post("/accounts/signup/", signup_data(slug="admin")).status_code == 200
        blocked = client.post("/accounts/signup/", signup_data(slug="fresh-slug"))
    assert blocked.status_code == 429
    assert not Business.objects.filter(slug="fresh-slug").exists()
    assert Client().get("/accounts/signup/").status_code == 200  # GETs are not limited


# --- login and logout ----------------------------------------------------------------------------------------


def test_login_page_links_to_signup_and_password_reset():
    html = Client().get("/accounts/login/").content.decode()
    assert 'href="/accounts/signup/"' in html
    assert 'href="/accounts/password-reset/"' in html
    assert 'for="id_username"' in html and 'type="email"' in html


def test_login_by_email_is_case_insensitive(tenant_a):
    client = Client()
    response = client.post("/accounts/login/", {"username": "  Owner@ACME.test ", "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/app/"
    assert client.get("/app/", follow=True).redirect_chain[-1][0] == "/app/acme/"


def test_login_with_wrong_password_shows_an_error(tenant_a):
    response = Client().post("/accounts/login/", {"username": "owner@acme.test", "password": "nope"})
    assert response.status_code == 200
    assert "do not match" in response.content.decode()


def test_login_follows_next_only_within_the_site(tenant_a):
    client = Client()
    page = client.get("/app/acme/settings/")
    assert page["Location"] == "/accounts/login/?next=/app/acme/settings/"
    response = client.post(
        "/accounts/login/?next=/app/acme/settings/",
        {"username": "owner@acme.test", "password": DEFAULT_PASSWORD, "next": "/app/acme/settings/"},
    )
    assert response["Location"] == "/app/acme/settings/"

    evil = Client().post(
        "/accounts/login/",
        {"username": "owner@acme.test", "password": DEFAULT_PASSWORD, "next": "https://evil.example/"},
    )
    assert evil["Location"] == "/app/"


def test_sixth_bad_login_from_one_ip_is_refused_with_429(tenant_a):
    client = Client()
    with time_machine.travel(FROZEN, tick=False):
        for attempt in range(5):
            response = client.post("/accounts/login/", {"username": f"x{attempt}@acme.test", "password": "bad"})
            assert response.status_code == 200, attempt
        blocked = client.post("/accounts/login/", {"username": "owner@acme.test", "password": DEFAULT_PASSWORD})
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.content.decode()
    assert "_auth_user_id" not in client.session  # even the right password does not get through


def test_sixth_bad_login_for_one_email_is_refused_from_any_ip(tenant_a):
    with time_machine.travel(FROZEN, tick=False):
        for attempt in range(5):
            response = Client(REMOTE_ADDR=f"10.0.0.{attempt + 1}").post(
                "/accounts/login/", {"username": "owner@acme.test", "password": "bad"}
            )
            assert response.status_code == 200, attempt
        blocked = Client(REMOTE_ADDR="10.0.0.99").post(
            "/accounts/login/", {"username": "OWNER@acme.test", "password": "bad"}
        )
        other_email = Client(REMOTE_ADDR="10.0.0.100").post(
            "/accounts/login/", {"username": "admin@acme.test", "password": DEFAULT_PASSWORD}
        )
    assert blocked.status_code == 429
    assert other_email.status_code == 302


def test_logout_is_post_only(tenant_a, client_for):
    client = client_for(tenant_a.owner)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.get("/app/acme/").status_code == 200
    response = client.post("/accounts/logout/")
    assert response["Location"] == "/accounts/login/"
    assert client.get("/app/acme/").status_code == 302


def test_logout_form_in_the_menu_has_csrf(tenant_a, client_for):
    html = client_for(tenant_a.owner).get("/app/acme/").content.decode()
    logout_form = re.search(r'<form method="post" action="/accounts/logout/">(.*?)</form>', html, re.S)
    assert logout_form and "csrfmiddlewaretoken" in logout_form.group(1)


# --- password reset ------------------------------------------------------------------------------------------


def _reset_link(settings) -> str:
    assert len(mail.outbox) == 1
    found = re.search(re.escape(settings.PUBLIC_BASE_URL) + r"(/accounts/reset/\S+/)", mail.outbox[0].body)
    assert found, mail.outbox[0].body
    return found.group(1)


def test_password_reset_by_email_end_to_end(tenant_a, settings):
    settings.PUBLIC_BASE_URL = "https://desk.example.com"
    client = Client()
    assert client.get("/accounts/password-reset/").status_code == 200
    response = client.post("/accounts/password-reset/", {"email": "OWNER@acme.test"})
    assert response["Location"] == "/accounts/password-reset/sent/"
    assert mail.outbox[0].to == ["owner@acme.test"]
    assert mail.outbox[0].subject == "Reset your SecondDesk password"
    link = _reset_link(settings)

    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200 and form_page.context["validlink"]
    set_url = form_page.redirect_chain[-1][0]
    mismatch = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD + "x"})
    assert mismatch.status_code == 200 and "new_password2" in mismatch.context["form"].errors
    done = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done["Location"] == "/accounts/reset/done/"

    assert (
        Client().post("/accounts/login/", {"username": "owner@acme.test", "password": DEFAULT_PASSWORD}).status_code
        == 200
    )
    fresh = Client()
    assert fresh.post("/accounts/login/", {"username": "owner@acme.test", "password": NEW_PASSWORD}).status_code == 302
    assert fresh.get("/app/acme/").status_code == 200
    # the link works once
    assert not Client().get(link, follow=True).context["validlink"]


def test_password_reset_for_unknown_email_sends_nothing_and_says_the_same(tenant_a):
    response = Client().post("/accounts/password-reset/", {"email": "nobody@acme.test"})
    assert response["Location"] == "/accounts/password-reset/sent/"
    assert mail.outbox == []


def test_password_reset_is_rate_limited_per_ip(tenant_a):
    client = Client()
    with time_machine.travel(FROZEN, tick=False):
        for _ in range(10):
            assert client.post("/accounts/password-reset/", {"email": "nobody@acme.test"}).status_code == 302
        blocked = client.post("/accounts/password-reset/", {"email": "owner@acme.test"})
    assert blocked.status_code == 429
    assert mail.outbox == []


# --- accepting invitations -----------------------------------------------------------------------------------


def _invite(tenant, email: str, role: str = "operator", capture=None) -> str:
    """Invite through the team page, like an owner would, and return the link's path from the email."""
    owner = Client()
    owner.force_login(tenant.owner)
    with capture(execute=True):
        result = owner.post(f"/app/{tenant.business.slug}/settings/team/", {"email": email, "role": role})
    assert result.status_code == 302, getattr(result, "context", None) and result.context["form"].errors
    body = mail.outbox[-1].body
    found = re.search(r"http://testserver-public(/accounts/invite/[\w-]+/)", body)
    assert found, body
    return found.group(1)


@pytest.fixture
def public_url(settings):
    settings.PUBLIC_BASE_URL = "http://testserver-public"


def test_invitation_end_to_end_for_a_new_person(tenant_a, public_url, django_capture_on_commit_callbacks):
    link = _invite(tenant_a, "Sam@Example.test", role="admin", capture=django_capture_on_commit_callbacks)
    assert mail.outbox[-1].to == ["sam@example.test"]
    assert "Acme Plumbing" in mail.outbox[-1].subject

    visitor = Client()
    page = visitor.get(link)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Join Acme Plumbing" in html and "sam@example.test" in html and "Admin" in html
    assert not Membership.objects.filter(user__email="sam@example.test").exists()  # GET accepts nothing

    weak = visitor.post(link, {"full_name": "Sam Ortiz", "password": "12345"})
    assert weak.status_code == 200 and "password" in weak.context["form"].errors
    assert not User.objects.filter(email="sam@example.test").exists()

    response = visitor.post(link, {"full_name": "Sam Ortiz", "password": NEW_PASSWORD})
    assert response["Location"] == "/app/acme/"
    user = User.objects.get(email="sam@example.test")
    assert user.full_name == "Sam Ortiz"
    membership = Membership.objects.get(user=user)
    assert (membership.business, membership.role) == (tenant_a.business, Membership.Role.ADMIN)
    assert Invitation.objects.get(email="sam@example.test").accepted_at is not None
    assert visitor.get("/app/acme/settings/team/").status_code == 200  # logged in as the new admin

    reused = Client().get(link)
    assert reused.status_code == 404
    assert "no longer valid" in reused.content.decode()


def test_invitation_for_an_existing_account_asks_to_log_in_then_accepts(
    tenant_a, tenant_b, public_url, django_capture_on_commit_callbacks
):
    link = _invite(tenant_a, "owner@bolt.test", capture=django_capture_on_commit_callbacks)
    visitor = Client()
    page = visitor.get(link)
    assert page.status_code == 200
    login_href = f'href="/accounts/login/?next={link.replace("/", "%2F")}"'
    assert login_href in page.content.decode()

    response = visitor.post(
        f"/accounts/login/?next={link}", {"username": "owner@bolt.test", "password": DEFAULT_PASSWORD, "next": link}
    )
    assert response["Location"] == link
    confirm = visitor.get(link)
    assert confirm.status_code == 200 and "Accept invitation" in confirm.content.decode()
    assert visitor.post(link)["Location"] == "/app/acme/"
    assert Membership.objects.get(user=tenant_b.owner, business=tenant_a.business).role == "operator"
    assert Membership.objects.get(user=tenant_b.owner, business=tenant_b.business).role == "owner"


def test_invitation_cannot_be_used_by_another_logged_in_account(tenant_a, tenant_b, client_for):
    invitation, token = InvitationFactory.with_token(business=tenant_a.business, email="sam@example.test")
    client = client_for(tenant_b.owner)
    page = client.get(f"/accounts/invite/{token}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "This invitation is for sam@example.test" in html and "owner@bolt.test" in html
    client.post(f"/accounts/invite/{token}/")
    assert not Membership.objects.filter(user=tenant_b.owner, business=tenant_a.business).exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None
    with pytest.raises(services.ValidationError):
        services.invitation_accept(invitation=invitation, user=tenant_b.owner)


def test_accepting_when_already_a_member_keeps_the_role(tenant_a, client_for):
    invitation, token = InvitationFactory.with_token(
        business=tenant_a.business, email="admin@acme.test", role=Membership.Role.OPERATOR
    )
    response = client_for(tenant_a.admin).post(f"/accounts/invite/{token}/")
    assert response["Location"] == "/app/acme/"
    assert Membership.objects.get(user=tenant_a.admin, business=tenant_a.business).role == "admin"
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None


@pytest.mark.parametrize(
    "state",
    [
        {"expires_at": timezone.now() - dt.timedelta(minutes=1)},
        {"revoked_at": timezone.now()},
        {"accepted_at": timezone.now()},
    ],
    ids=["expired", "revoked", "used"],
)
def test_dead_invitation_links_get_one_friendly_404(tenant_a, state):
    _, token = InvitationFactory.with_token(business=tenant_a.business, email="sam@example.test", **state)
    for method in ("get", "post"):
        response = getattr(Client(), method)(f"/accounts/invite/{token}/", {"full_name": "S", "password": NEW_PASSWORD})
        assert response.status_code == 404
        assert "This invitation is no longer valid" in response.content.decode()
    assert not User.objects.filter(email="sam@example.test").exists()


def test_unknown_token_and_deactivated_business_get_the_same_404(tenant_a):
    assert Client().get("/accounts/invite/not-a-real-token/").status_code == 404
    _, token = InvitationFactory.with_token(business=tenant_a.business)
    Business.objects.filter(pk=tenant_a.business.pk).update(is_active=False)
    response = Client().get(f"/accounts/invite/{token}/")
    assert response.status_code == 404 and "no longer valid" in response.content.decode()


def test_only_the_token_hash_is_stored(tenant_a):
    invitation, token = services.invitation_create(
        business=tenant_a.business, email="sam@example.test", role="operator", invited_by=tenant_a.owner
    )
    stored = Invitation.objects.get(pk=invitation.pk)
    assert stored.token_hash == Invitation.hash_token(token) != token
    assert token not in str(Invitation.objects.values().get(pk=invitation.pk))
    assert stored.expires_at - stored.created_at == pytest.approx(dt.timedelta(days=7), abs=dt.timedelta(seconds=5))


def test_invitation_accepted_twice_at_once_joins_once(tenant_a):
    invitation, _ = InvitationFactory.with_token(business=tenant_a.business, email="sam@example.test")
    user = UserFactory(email="sam@example.test")
    services.invitation_accept(invitation=invitation, user=user)
    with pytest.raises(services.ValidationError):
        services.invitation_accept(invitation=invitation, user=user)
    assert Membership.objects.filter(user=user).count() == 1


def test_invitation_signup_refuses_when_the_account_appeared_meanwhile(tenant_a, monkeypatch):
    _, token = InvitationFactory.with_token(business=tenant_a.business, email="sam@example.test")
    client = Client()
    assert "form" in client.get(f"/accounts/invite/{token}/").context
    UserFactory(email="sam@example.test")  # created elsewhere between page load and submit
    monkeypatch.setattr(services, "email_taken", lambda email: False)  # the view's own check is stale too
    response = client.post(f"/accounts/invite/{token}/", {"full_name": "Sam", "password": NEW_PASSWORD})
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert not Membership.objects.filter(user__email="sam@example.test").exists()


# --- business switcher ---------------------------------------------------------------------------------------


def test_switcher_lists_both_businesses_and_opens_both_dashboards(tenant_a, tenant_b, client_for):
    MembershipFactory(business=tenant_b.business, user=tenant_a.operator, role=Membership.Role.ADMIN)
    client = client_for(tenant_a.operator)
    for slug, name in (("acme", "Acme Plumbing"), ("bolt", "Bolt Electric")):
        response = client.get(f"/app/{slug}/")
        assert response.status_code == 200
        html = response.content.decode()
        assert "Switch business" in html
        assert 'href="/app/acme/"' in html and 'href="/app/bolt/"' in html
        assert "Acme Plumbing" in html and "Bolt Electric" in html
        assert response.context["business"].name == name
    # a single-business user sees no switcher, and never the other business
    html = client_for(tenant_a.admin).get("/app/acme/").content.decode()
    assert "Switch business" not in html and "Bolt Electric" not in html

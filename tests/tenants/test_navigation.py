"""One settings navigation on every settings page, the settings overview's sections, and the header: the owners'
Simulator link (only with a simulator number, computed lazily) and the user menu's Add a business / Leave."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.template.loader import render_to_string
from django.test import RequestFactory

from tenants.context_processors import tenant as tenant_context
from tenants.models import Business, Membership
from tests.factories import PhoneNumberFactory, UserFactory

pytestmark = pytest.mark.django_db

SUBNAV = '<nav class="subnav" aria-label="Settings sections">'


@pytest.fixture
def twilio_number(tenant_a):
    return PhoneNumberFactory(business=tenant_a.business, e164="+16282005100", provider="twilio")


@pytest.fixture
def simulator_number(tenant_a):
    return PhoneNumberFactory(business=tenant_a.business, e164="+16282005101", provider="simulator")


def subnav(html: str) -> str:
    start = html.index(SUBNAV)
    return html[start : html.index("</nav>", start)]


# --- settings sub-navigation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "current"),
    [
        ("/app/acme/settings/", "Overview"),
        ("/app/acme/settings/profile/", "Profile &amp; branding"),
        ("/app/acme/settings/hours/", "Hours &amp; holidays"),
        ("/app/acme/settings/numbers/", "Numbers"),
        ("/app/acme/settings/numbers/add/", "Numbers"),
        ("/app/acme/settings/numbers/{number}/", "Numbers"),
        ("/app/acme/settings/carrier/", "Carrier account"),
        ("/app/acme/settings/templates/", "Text-back templates"),
        ("/app/acme/settings/team/", "Team"),
    ],
)
def test_every_settings_page_has_the_same_subnav_with_its_section_marked(
    tenant_a, client_for, twilio_number, path, current
):
    response = client_for(tenant_a.owner).get(path.format(number=twilio_number.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count(SUBNAV) == 1
    nav = subnav(html)
    for href, label in [
        ("/app/acme/settings/", "Overview"),
        ("/app/acme/settings/profile/", "Profile &amp; branding"),
        ("/app/acme/settings/hours/", "Hours &amp; holidays"),
        ("/app/acme/settings/numbers/", "Numbers"),
        ("/app/acme/settings/carrier/", "Carrier account"),
        ("/app/acme/settings/templates/", "Text-back templates"),
        ("/app/acme/settings/team/", "Team"),
    ]:
        marked = f'<a href="{href}" aria-current="page">{label}</a>'
        plain = f'<a href="{href}">{label}</a>'
        assert (marked if label == current else plain) in nav, (path, label)
    assert nav.count('aria-current="page"') == 1


def test_admins_do_not_see_the_owners_only_carrier_account(tenant_a, client_for):
    client = client_for(tenant_a.admin)
    for path in ("/app/acme/settings/", "/app/acme/settings/numbers/", "/app/acme/settings/templates/"):
        html = client.get(path).content.decode()
        assert "Carrier account" not in subnav(html), path
        assert "/settings/carrier/" not in html, path
        assert 'href="/app/acme/settings/templates/"' in subnav(html) and "Text-back templates" in subnav(html)
    assert client.get("/app/acme/settings/carrier/").status_code == 403


def test_settings_overview_links_every_section(tenant_a, client_for):
    html = client_for(tenant_a.owner).get("/app/acme/settings/").content.decode()
    main = html[html.index("</nav>", html.index(SUBNAV)) :]
    for href, label in [
        ("/app/acme/settings/numbers/", "Manage numbers"),
        ("/app/acme/settings/carrier/", "Manage carrier account"),
        ("/app/acme/settings/templates/", "Edit text-back templates"),
        ("/app/acme/settings/team/", "Manage team"),
    ]:
        assert f'href="{href}">{label}</a>' in main, label
    assert "Not reviewed yet" in main


def test_settings_overview_shows_templates_reviewed(tenant_a, client_for):
    from django.utils import timezone

    Business.objects.filter(pk=tenant_a.business.pk).update(templates_reviewed_at=timezone.now())
    html = client_for(tenant_a.admin).get("/app/acme/settings/").content.decode()
    assert '<span class="badge badge-ok">Reviewed</span>' in html
    assert "Manage carrier account" not in html


# --- header: Simulator link ----------------------------------------------------------------------------------------


def mainnav(html: str) -> str:
    start = html.index('<nav class="mainnav"')
    return html[start : html.index("</nav>", start)]


def test_owner_with_a_simulator_number_gets_the_simulator_link(tenant_a, client_for, simulator_number):
    nav = mainnav(client_for(tenant_a.owner).get("/app/acme/").content.decode())
    assert '<a href="/app/acme/simulator/">Simulator</a>' in nav
    nav = mainnav(client_for(tenant_a.owner).get("/app/acme/simulator/").content.decode())
    assert '<a href="/app/acme/simulator/" aria-current="page">Simulator</a>' in nav


@pytest.mark.parametrize("role", ["admin", "operator"])
def test_other_roles_never_get_the_simulator_link(tenant_a, client_for, simulator_number, role):
    html = client_for(tenant_a.user(role)).get("/app/acme/").content.decode()
    assert "/simulator/" not in mainnav(html)


def test_no_simulator_link_without_a_simulator_number(tenant_a, tenant_b, client_for, twilio_number):
    PhoneNumberFactory(business=tenant_b.business, e164="+16282005102", provider="simulator")  # not ours
    html = client_for(tenant_a.owner).get("/app/acme/").content.decode()
    assert "/simulator/" not in mainnav(html)


def _request(user, business=None, membership=None):
    request = RequestFactory().get("/")
    request.user = user
    request.business = business
    request.membership = membership
    return request


def test_simulator_flag_costs_no_query_outside_a_business_or_for_other_roles(
    tenant_a, simulator_number, django_assert_num_queries
):
    with django_assert_num_queries(0):
        context = tenant_context(_request(AnonymousUser()))
        assert not context["has_simulator_number"] and not context["is_owner"]

    operator = Membership.objects.select_related("business").get(user=tenant_a.operator)
    with django_assert_num_queries(1):  # the business switcher's list, nothing more
        context = tenant_context(_request(tenant_a.operator, tenant_a.business, operator))
        assert not context["has_simulator_number"]

    with django_assert_num_queries(1):  # a logged-in user on a page outside any business
        context = tenant_context(_request(tenant_a.owner))
        assert not context["has_simulator_number"] and not context["is_owner"]


def test_simulator_flag_for_owners_is_asked_only_when_shown(tenant_a, simulator_number, django_assert_num_queries):
    owner = Membership.objects.select_related("business").get(user=tenant_a.owner)
    with django_assert_num_queries(1):
        context = tenant_context(_request(tenant_a.owner, tenant_a.business, owner))
    with django_assert_num_queries(1):
        assert context["has_simulator_number"]
    with django_assert_num_queries(0):  # asked once per request
        assert context["has_simulator_number"]


# --- header: user menu ---------------------------------------------------------------------------------------------


def usermenu(html: str) -> str:
    start = html.index('<details class="usermenu">')
    return html[start : html.index("</details>", start)]


@pytest.mark.parametrize("role", ["owner", "admin", "operator"])
def test_user_menu_offers_add_a_business_and_leaving_this_one(tenant_a, client_for, role):
    menu = usermenu(client_for(tenant_a.user(role)).get("/app/acme/").content.decode())
    assert '<a href="/accounts/signup/">Add a business</a>' in menu
    assert '<a href="/app/acme/settings/team/leave/">Leave this business</a>' in menu


def test_menu_links_lead_to_working_pages(tenant_a, client_for):
    client = client_for(tenant_a.operator)
    page = client.get("/accounts/signup/")
    assert page.status_code == 200
    assert "<h1>Add a business</h1>" in page.content.decode()
    assert "Leave Acme Plumbing?" in client.get("/app/acme/settings/team/leave/").content.decode()


def test_add_a_business_from_the_menu_makes_me_its_owner(tenant_a, client_for):
    client = client_for(tenant_a.operator)
    response = client.post(
        "/accounts/signup/", {"business_name": "Acme North", "slug": "acme-north", "timezone": "America/Chicago"}
    )
    assert response.status_code == 302 and response["Location"] == "/app/acme-north/"
    membership = Membership.objects.get(user=tenant_a.operator, business__slug="acme-north")
    assert membership.role == Membership.Role.OWNER
    menu = usermenu(client.get("/app/acme-north/").content.decode())
    assert "Acme Plumbing" in menu and "Acme North" in menu  # the switcher lists both


def test_no_leave_link_outside_a_business(client_for):
    user = UserFactory(email="lonely@example.test")
    request = _request(user)
    menu = usermenu(render_to_string("base.html", tenant_context(request), request=request))
    assert '<a href="/accounts/signup/">Add a business</a>' in menu
    assert "Leave this business" not in menu


def test_a_person_without_a_business_can_add_one_or_log_out(client_for):
    user = UserFactory(email="lonely@example.test")
    html = client_for(user).get("/app/").content.decode()
    assert "No business yet" in html
    assert 'href="/accounts/signup/">Add a business</a>' in html
    assert 'action="/accounts/logout/"' in html and 'name="csrfmiddlewaretoken"' in html

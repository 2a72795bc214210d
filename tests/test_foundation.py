import pytest

from tests.tenancy import assert_guarded


@pytest.mark.django_db
def test_dashboard_is_guarded(tenant_a, tenant_b, client_for):
    assert_guarded(client_for, "/app/acme/", own=tenant_a, other=tenant_b, allowed_roles=("owner", "admin", "operator"))


@pytest.mark.django_db
def test_settings_is_managers_only(tenant_a, tenant_b, client_for):
    assert_guarded(client_for, "/app/acme/settings/", own=tenant_a, other=tenant_b, allowed_roles=("owner", "admin"))


@pytest.mark.django_db
def test_unknown_slug_is_404_for_members(tenant_a, client_for):
    assert client_for(tenant_a.owner).get("/app/nope/").status_code == 404

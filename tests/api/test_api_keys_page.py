"""The API keys settings page: owners only, a new key shown once and stored hashed, revoking stops it at once."""

import hashlib

from compliance.models import AuditEvent
from tenants.models import ApiKey, Membership
from tests.api.conftest import ApiClient
from tests.tenancy import assert_guarded


def test_page_is_for_owners_of_this_business_only(tenant_a, tenant_b, client_for):
    url = f"/app/{tenant_a.business.slug}/settings/api-keys/"
    assert_guarded(client_for, url, own=tenant_a, other=tenant_b, allowed_roles=[Membership.Role.OWNER])
    assert_guarded(
        client_for,
        url,
        own=tenant_a,
        other=tenant_b,
        allowed_roles=[Membership.Role.OWNER],
        method="post",
        data={"name": "x"},
    )
    # only the owners' creation above went through
    assert ApiKey.objects.filter(business=tenant_b.business).count() == 0


def test_create_shows_the_key_once_and_stores_only_its_hash(tenant_a, client_for):
    owner = client_for(tenant_a.owner)
    url = f"/app/{tenant_a.business.slug}/settings/api-keys/"
    response = owner.post(url, {"name": "  Jobber   sync "})
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get(business=tenant_a.business)
    secret = response.context["secret"]
    assert secret.startswith("sd_") and len(secret) > 40
    assert secret in response.content.decode()
    assert key.name == "Jobber sync" and key.created_by == tenant_a.owner
    assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest() and key.prefix == secret[:12]
    assert secret not in str(ApiKey.objects.filter(pk=key.pk).values().get())
    assert AuditEvent.objects.filter(action="api_key.create", actor=tenant_a.owner, target_id=str(key.pk)).exists()
    # the page afterwards shows the prefix, never the secret
    page = owner.get(url).content.decode()
    assert key.prefix in page and secret not in page
    assert ApiClient(secret).get("/api/v1/contacts/").status_code == 200


def test_blank_name_is_a_form_error(tenant_a, client_for):
    response = client_for(tenant_a.owner).post(f"/app/{tenant_a.business.slug}/settings/api-keys/", {"name": " "})
    assert response.status_code == 200 and response.context["form"].errors
    assert not ApiKey.objects.exists()


def test_revoke(tenant_a, tenant_b, client_for):
    owner = client_for(tenant_a.owner)
    base = f"/app/{tenant_a.business.slug}/settings/api-keys/"
    secret = owner.post(base, {"name": "CRM"}).context["secret"]
    key = ApiKey.objects.get(business=tenant_a.business)
    revoke = f"{base}{key.pk}/revoke/"
    assert client_for(tenant_a.admin).post(revoke).status_code == 403
    assert client_for(tenant_b.owner).post(revoke).status_code == 404
    # another business's owner using their own slug with our key id: not found either
    assert (
        client_for(tenant_b.owner).post(f"/app/{tenant_b.business.slug}/settings/api-keys/{key.pk}/revoke/").status_code
        == 404
    )
    assert ApiClient(secret).get("/api/v1/contacts/").status_code == 200
    response = owner.post(revoke)
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert ApiClient(secret).get("/api/v1/contacts/").status_code == 401
    assert AuditEvent.objects.filter(action="api_key.revoke", actor=tenant_a.owner).count() == 1
    assert "Revoked" in owner.get(base).content.decode()
    owner.post(revoke)  # twice: still one audit entry, first time kept
    assert AuditEvent.objects.filter(action="api_key.revoke").count() == 1
    assert owner.get(revoke).status_code == 405

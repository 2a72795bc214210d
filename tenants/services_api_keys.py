"""Creating and revoking REST API keys (owners only; the views check the role, these functions record who)."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from compliance.services import audit
from tenants.models import ApiKey, Business, Membership, User

NAME_MAX = 80


@transaction.atomic
def api_key_create(*, business: Business, name: str, created_by: User) -> tuple[ApiKey, str]:
    """Create a key and return it with the secret, which is never stored and cannot be shown again. Writes the
    audit entry "api_key.create" (name and prefix, never the secret). Raises ValidationError, writing nothing,
    for an empty or too long name."""
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("Give the key a name, e.g. the tool that will use it.", code="empty")
    if len(name) > NAME_MAX or "\x00" in name:
        raise ValidationError(f"Keep the name under {NAME_MAX} characters.", code="too_long")
    secret, key_hash = ApiKey.new_secret()
    key = ApiKey.objects.create(
        business=business, name=name, prefix=secret[: ApiKey.PREFIX_CHARS], key_hash=key_hash, created_by=created_by
    )
    audit(business=business, action="api_key.create", actor=created_by, target=key, name=name, prefix=key.prefix)
    return key, secret


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: User) -> ApiKey:
    """Revoke a key: from the next request on it gets 401. Idempotent (revoking twice keeps the first time)."""
    key = ApiKey.objects.select_for_update().get(pk=key.pk, business_id=key.business_id)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit(business=key.business, action="api_key.revoke", actor=actor, target=key, name=key.name)
    return key


def api_key_authenticate(secret: str) -> ApiKey | None:
    """The active key with this secret, or None. A key works only while the owner who created it is still an owner
    of the business with an active account: removing or demoting someone ends their keys' access at once (an
    owner leaving must not keep owner-level access through a key they copied). Notes when it was last used, at
    most once a minute per key, so a busy integration does not write a row on every request."""
    if not secret or len(secret) > 200:
        return None
    creator_is_owner = Membership.objects.filter(
        business_id=OuterRef("business_id"), user_id=OuterRef("created_by_id"), role=Membership.Role.OWNER
    )
    key = (
        ApiKey.objects.select_related("business", "created_by")
        .filter(
            Exists(creator_is_owner),
            key_hash=ApiKey.hash_secret(secret),
            revoked_at__isnull=True,
            business__is_active=True,
            created_by__is_active=True,
        )
        .first()
    )
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key

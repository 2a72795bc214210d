"""Writes for accounts and teams: sign-up, invitations and memberships.

Every function here is keyword-only, runs in one transaction and either finishes completely or leaves no trace.
Rule violations raise `ValidationError` (a message a person can act on); a role that is not allowed to do
something raises `PermissionDenied` (the views never offer such an action, so it only happens to crafted
requests). Team changes lock the business row first, so two owners demoting each other at the same moment
cannot leave a business without an owner.
"""

import datetime as dt
import logging

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.timezone import now as utc_now

from tenants.models import TIMEZONE_CHOICES, Business, Invitation, Membership, User

logger = logging.getLogger(__name__)

INVITATION_TTL = dt.timedelta(days=7)

# Slugs that would read as part of the product rather than a business (and may collide with future routes).
RESERVED_SLUGS = frozenset(
    {
        "about",
        "accounts",
        "admin",
        "api",
        "app",
        "assets",
        "billing",
        "dashboard",
        "dev",
        "docs",
        "healthz",
        "help",
        "i",
        "inbox",
        "login",
        "logout",
        "media",
        "new",
        "root",
        "settings",
        "signup",
        "static",
        "status",
        "support",
        "webhooks",
        "www",
    }
)
_VALID_TIMEZONES = frozenset(tz for tz, _ in TIMEZONE_CHOICES)
_SLUG_TAKEN = "This address is already taken. Please choose another."
_EMAIL_TAKEN = "An account with this email already exists. Log in instead."
_ROLE_RANK = {Membership.Role.OPERATOR: 0, Membership.Role.ADMIN: 1, Membership.Role.OWNER: 2}


def normalize_email(email: str) -> str:
    """Emails are compared and stored lower-case (the User manager stores them that way too)."""
    return email.strip().lower()


def email_taken(email: str) -> bool:
    return User.objects.filter(email__iexact=normalize_email(email)).exists()


def slug_taken(slug: str) -> bool:
    return Business.objects.filter(slug__iexact=slug).exists()


# --- sign-up -------------------------------------------------------------------------------------------------


def _business_errors(*, slug: str, timezone: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if slug in RESERVED_SLUGS:
        errors["slug"] = ["This address is reserved. Please choose another."]
    elif slug_taken(slug):
        errors["slug"] = [_SLUG_TAKEN]
    if timezone not in _VALID_TIMEZONES:
        errors["timezone"] = ["Choose a time zone from the list."]
    return errors


def _create_business(*, name: str, slug: str, timezone: str, owner: User) -> Membership:
    try:
        with transaction.atomic():  # savepoint: an IntegrityError must not poison the outer transaction
            business = Business.objects.create(name=name.strip(), slug=slug, timezone=timezone)
            return Membership.objects.create(business=business, user=owner, role=Membership.Role.OWNER)
    except IntegrityError as exc:  # lost a race for the slug between the check and the insert
        raise ValidationError({"slug": [_SLUG_TAKEN]}) from exc


@transaction.atomic
def business_create(*, name: str, slug: str, timezone: str, owner: User) -> Membership:
    """Create a business with `owner` as its first owner (for a person who already has an account).

    Guarantees: the Business and the owner Membership exist together or not at all. Raises `ValidationError`
    keyed by form field ("slug" reserved or taken case-insensitively, "timezone" unknown); a race for the
    same slug ends in a `ValidationError`, never a 500.
    """
    slug = slug.strip().lower()
    errors = _business_errors(slug=slug, timezone=timezone)
    if errors:
        raise ValidationError(errors)
    return _create_business(name=name, slug=slug, timezone=timezone, owner=owner)


@transaction.atomic
def business_signup(*, name: str, slug: str, timezone: str, email: str, password: str, full_name: str) -> Membership:
    """Create a user, their business and the owner membership, all or nothing.

    Guarantees: on success exactly one User, one Business and one owner Membership exist; on any error
    (`ValidationError` keyed by form field: email taken case-insensitively, slug taken or reserved, unknown
    time zone, weak password; all of them reported at once) nothing is saved. The uniqueness checks are
    repeated by the database constraints, so two sign-ups racing for the same slug or email end with one
    success and one `ValidationError`, never a 500.
    """
    email = normalize_email(email)
    slug = slug.strip().lower()
    errors = _business_errors(slug=slug, timezone=timezone)
    if email_taken(email):
        errors["email"] = [_EMAIL_TAKEN]
    try:
        validate_password(password, User(email=email, full_name=full_name))
    except ValidationError as exc:
        errors["password"] = exc.messages
    if errors:
        raise ValidationError(errors)

    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, full_name=full_name.strip())
    except IntegrityError as exc:
        raise ValidationError({"email": [_EMAIL_TAKEN]}) from exc
    return _create_business(name=name, slug=slug, timezone=timezone, owner=user)


# --- invitations ---------------------------------------------------------------------------------------------


def invitation_url(token: str) -> str:
    """The absolute accept link for a token; built from PUBLIC_BASE_URL, never from the request's Host."""
    return settings.PUBLIC_BASE_URL + reverse("invitation_accept", kwargs={"token": token})


def invitation_get_by_token(token: str) -> Invitation | None:
    """The invitation a link points to, or None when it is unknown, used, revoked, expired or its business is
    deactivated: callers show one "no longer valid" page for all of these."""
    invitation = (
        Invitation.objects.select_related("business", "invited_by")
        .filter(token_hash=Invitation.hash_token(token))
        .first()
    )
    if invitation is None or not invitation.is_pending or not invitation.business.is_active:
        return None
    return invitation


def may_assign_role(*, acting: Membership, role: str) -> bool:
    """Managers may hand out roles up to their own: admins never create owners."""
    return acting.is_manager and _ROLE_RANK[role] <= _ROLE_RANK[acting.role]


def assignable_roles(*, acting: Membership) -> list[tuple[str, str]]:
    """Role choices for a form shown to `acting`, highest first."""
    return [(value, label) for value, label in Membership.Role.choices if may_assign_role(acting=acting, role=value)]


def _send_invitation_email(*, invitation_id: int, token: str) -> None:
    invitation = Invitation.objects.select_related("business", "invited_by").get(pk=invitation_id)
    context = {
        "invitation": invitation,
        "business": invitation.business,
        "inviter": invitation.invited_by,
        "role": invitation.get_role_display(),
        "url": invitation_url(token),
        "expires_at": invitation.expires_at,
    }
    # One line whatever a business or person name contains: a newline in a header is refused by the mail library.
    subject = " ".join(render_to_string("accounts/email/invitation_subject.txt", context).split())
    body = render_to_string("accounts/email/invitation_body.txt", context)
    send_mail(subject, body, None, [invitation.email])


@transaction.atomic
def invitation_create(*, business: Business, email: str, role: str, invited_by: User) -> tuple[Invitation, str]:
    """Invite `email` to `business` with `role` and email them the link once the transaction commits.

    Returns the invitation and the raw token (only its SHA-256 hash is stored; the token exists in the email
    and nowhere else). A pending invitation for the same email is revoked first, so each person has at most one
    working link. Raises `PermissionDenied` if `invited_by` is not a manager of `business` or tries to hand out
    a role above their own, and `ValidationError` (key "email") if the address already belongs to a member.

    The email is sent after commit (never for a rolled-back invite). If sending fails the exception reaches
    the caller with the invitation already saved; the caller tells the person, who can resend it.
    """
    Business.objects.select_for_update().get(pk=business.pk)  # serialise team changes per business
    acting = Membership.objects.filter(business=business, user=invited_by).first()
    if acting is None or not may_assign_role(acting=acting, role=role):
        raise PermissionDenied(f"Your role does not allow inviting someone as {role}.")
    email = normalize_email(email)
    if Membership.objects.filter(business=business, user__email__iexact=email).exists():
        raise ValidationError({"email": [f"This person is already a member of {business.name}."]})

    now = utc_now()
    Invitation.objects.filter(
        business=business, email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    token, token_hash = Invitation.new_token()
    invitation = Invitation.objects.create(
        business=business,
        email=email,
        role=role,
        token_hash=token_hash,
        invited_by=invited_by,
        expires_at=now + INVITATION_TTL,
    )
    transaction.on_commit(lambda: _send_invitation_email(invitation_id=invitation.pk, token=token))
    return invitation, token


@transaction.atomic
def invitation_resend(*, invitation: Invitation, acting_user: User) -> tuple[Invitation, str]:
    """Send a fresh link for an open (not accepted, not revoked; possibly expired) invitation: the old link
    stops working, the new one lasts 7 days. Same rules and guarantees as `invitation_create` (it is a
    re-invite with the same email and role); `ValidationError` if the invitation was accepted or revoked.
    """
    # Same lock order as invitation_create (business, then invitations), so the two cannot deadlock.
    Business.objects.select_for_update().get(pk=invitation.business_id)
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if locked.accepted_at is not None or locked.revoked_at is not None:
        raise ValidationError("This invitation was already used or revoked. Send a new one instead.")
    return invitation_create(business=invitation.business, email=locked.email, role=locked.role, invited_by=acting_user)


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, acting: Membership) -> Invitation:
    """Stop a pending invitation's link from working. Idempotent: revoking a used or revoked invitation changes
    nothing. Admins cannot revoke an invitation to become an owner (that is an owner's decision)."""
    if acting.business_id != invitation.business_id or not may_assign_role(acting=acting, role=invitation.role):
        raise PermissionDenied("Your role does not allow revoking this invitation.")
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if locked.accepted_at is None and locked.revoked_at is None:
        locked.revoked_at = utc_now()
        locked.save(update_fields=["revoked_at"])
    return locked


def _lock_pending(invitation: Invitation) -> Invitation:
    # of=("self",): lock the invitation only; the business row is the team-change lock and stays free here.
    locked = Invitation.objects.select_for_update(of=("self",)).select_related("business").get(pk=invitation.pk)
    if not locked.is_pending or not locked.business.is_active:
        raise ValidationError("This invitation is no longer valid.")
    return locked


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    """Join `user` to the invitation's business with the invited role and mark the invitation used.

    The invitation was addressed to an email; only the account with that email may use it (a forwarded link
    must not let someone else in). Raises `ValidationError` if the emails differ or the invitation is no
    longer pending (the row is locked, so a link used twice at once joins once). If the user is already a
    member, their role is left as it is and the invitation is marked used.
    """
    locked = _lock_pending(invitation)
    if normalize_email(user.email) != normalize_email(locked.email):
        raise ValidationError(f"This invitation was sent to {locked.email}. Log in with that email to accept it.")
    membership, _ = Membership.objects.get_or_create(
        business=locked.business, user=user, defaults={"role": locked.role}
    )
    locked.accepted_at = utc_now()
    locked.save(update_fields=["accepted_at"])
    return membership


@transaction.atomic
def invitation_signup(*, invitation: Invitation, full_name: str, password: str) -> Membership:
    """Create the account for an invited email and accept the invitation, all or nothing.

    The link proves the person reads that inbox, so the account's email is the invitation's. Raises
    `ValidationError` (key "password" for a weak password; no key if an account with this email exists by
    now, or the invitation is no longer pending).
    """
    locked = _lock_pending(invitation)
    if email_taken(locked.email):
        raise ValidationError("An account with this email already exists. Log in to accept the invitation.")
    try:
        validate_password(password, User(email=locked.email, full_name=full_name))
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=locked.email, password=password, full_name=full_name.strip())
    except IntegrityError as exc:
        raise ValidationError("An account with this email already exists. Log in to accept the invitation.") from exc
    return invitation_accept(invitation=locked, user=user)


# --- memberships ---------------------------------------------------------------------------------------------


def may_manage_member(*, acting: Membership, target: Membership) -> bool:
    """Whether `acting` may change or remove `target` at all: managers may manage operators and admins; only
    owners manage owners. (Leaving, i.e. removing yourself, is `membership_remove` with acting == target.)"""
    if acting.business_id != target.business_id or not acting.is_manager:
        return False
    return _ROLE_RANK[target.role] <= _ROLE_RANK[acting.role]


def _current(acting: Membership) -> Membership:
    """The acting member's role as of now (inside the lock), not as loaded at the start of the request."""
    current = Membership.objects.filter(pk=acting.pk).first()
    if current is None:
        raise PermissionDenied("You are no longer a member of this business.")
    return current


def _owner_count(business_id: int) -> int:
    return Membership.objects.filter(business_id=business_id, role=Membership.Role.OWNER).count()


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str, acting: Membership) -> Membership:
    """Give `membership` a new role.

    Only owners can make or unmake owners; admins can move people between admin and operator. The last owner
    cannot be demoted (`ValidationError`): a business always keeps someone who can manage everything.
    Idempotent when the role is unchanged.
    """
    if role not in Membership.Role.values:
        raise ValidationError("Unknown role.")
    Business.objects.select_for_update().get(pk=membership.business_id)
    target = Membership.objects.select_related("user").get(pk=membership.pk)
    acting = _current(acting)
    if not may_manage_member(acting=acting, target=target) or not may_assign_role(acting=acting, role=role):
        raise PermissionDenied("Your role does not allow this change.")
    if target.role == role:
        return target
    if target.role == Membership.Role.OWNER and _owner_count(target.business_id) <= 1:
        raise ValidationError(f"{target.user.display_name} is the only owner. Make someone else an owner first.")
    target.role = role
    target.save(update_fields=["role"])
    return target


@transaction.atomic
def membership_remove(*, membership: Membership, acting: Membership) -> None:
    """Remove `membership` from its business; with acting == membership this is the member leaving.

    Anyone may leave; managers may remove members they may manage (admins never remove owners). The last owner
    can neither leave nor be removed (`ValidationError`). Pending invitations are untouched.
    """
    Business.objects.select_for_update().get(pk=membership.business_id)
    try:
        target = Membership.objects.select_related("user").get(pk=membership.pk)
    except Membership.DoesNotExist:
        return  # already gone: removing twice is not an error
    acting = _current(acting)
    leaving = target.pk == acting.pk
    if not leaving and not may_manage_member(acting=acting, target=target):
        raise PermissionDenied("Your role does not allow removing this member.")
    if target.role == Membership.Role.OWNER and _owner_count(target.business_id) <= 1:
        if leaving:
            raise ValidationError("You are the only owner. Make someone else an owner before you leave.")
        raise ValidationError(f"{target.user.display_name} is the only owner and cannot be removed.")
    target.delete()
